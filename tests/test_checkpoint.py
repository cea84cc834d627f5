import pickle

import pytest
import torch

from mobilevid.checkpoint import atomic_write, load_checkpoint, load_into, save_checkpoint
from mobilevid.errors import MobilevidError
from mobilevid.models import create_model


@pytest.fixture
def model():
    return create_model("vmf-560m", num_classes=5)


@pytest.mark.parametrize("wrap", ["plain", "model", "state_dict", "ddp"])
def test_accepts_common_checkpoint_shapes(tmp_path, model, wrap):
    sd = model.state_dict()
    obj = {
        "plain": sd,
        "model": {"model": sd, "epoch": 3},
        "state_dict": {"state_dict": sd},
        "ddp": {"model": {f"module.{k}": v for k, v in sd.items()}},
    }[wrap]
    torch.save(obj, tmp_path / "c.pt")
    ck = load_checkpoint(tmp_path / "c.pt")
    fresh = create_model("vmf-560m", num_classes=5)
    load_into(fresh, ck)
    assert all(torch.equal(fresh.state_dict()[k], v) for k, v in sd.items())
    if wrap == "model":
        assert ck.meta["epoch"] == 3


def test_save_is_loadable_and_carries_meta(tmp_path, model):
    save_checkpoint(tmp_path / "a" / "m.pt", model, variant="vmf-560m", num_classes=5, labels=["a"])
    ck = load_checkpoint(tmp_path / "a" / "m.pt")
    assert ck.meta == {"variant": "vmf-560m", "num_classes": 5, "labels": ["a"]}
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["m.pt"]  # no temp left


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"", "not a readable"),
        (b"garbage" * 100, "not a readable"),
        (None, "no such checkpoint"),
    ],
)
def test_bad_files_are_one_line_errors(tmp_path, content, needle):
    p = tmp_path / "bad.pt"
    if content is not None:
        p.write_bytes(content)
    with pytest.raises(MobilevidError, match=needle) as e:
        load_checkpoint(p)
    assert "\n" not in str(e.value)


def test_truncated_checkpoint(tmp_path, model):
    torch.save(model.state_dict(), tmp_path / "c.pt")
    data = (tmp_path / "c.pt").read_bytes()
    (tmp_path / "t.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(MobilevidError, match="not a readable"):
        load_checkpoint(tmp_path / "t.pt")


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_pickled_code_is_refused(tmp_path, capsys):
    with open(tmp_path / "evil.pt", "wb") as f:
        pickle.dump({"model": _Evil()}, f)
    with pytest.raises(MobilevidError):
        load_checkpoint(tmp_path / "evil.pt")
    assert "pwned" not in capsys.readouterr().out


def test_wrong_variant_and_wrong_classes(tmp_path, model):
    torch.save(create_model("vmf-2g").state_dict(), tmp_path / "other.pt")
    with pytest.raises(MobilevidError, match="another variant"):
        load_into(model, load_checkpoint(tmp_path / "other.pt"))
    torch.save(create_model("vmf-560m", num_classes=7).state_dict(), tmp_path / "k.pt")
    with pytest.raises(MobilevidError, match="num-classes"):
        load_into(model, load_checkpoint(tmp_path / "k.pt"))


def test_not_a_state_dict(tmp_path):
    torch.save({"model": {"a": 1}}, tmp_path / "x.pt")
    with pytest.raises(MobilevidError, match="no model state_dict"):
        load_checkpoint(tmp_path / "x.pt")


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.bin"

    def boom(tmp):
        tmp.write_bytes(b"half")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        atomic_write(target, boom)
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_replaces_directories(tmp_path):
    target = tmp_path / "m.mlpackage"
    for content in (b"one", b"two"):
        atomic_write(target, lambda t, c=content: (t.mkdir(), (t / "w.bin").write_bytes(c)))
    assert (target / "w.bin").read_bytes() == b"two"
    assert [p.name for p in tmp_path.iterdir()] == ["m.mlpackage"]
