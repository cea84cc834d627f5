"""Videos in, clips out: decoding, sampling, preprocessing, labels."""
