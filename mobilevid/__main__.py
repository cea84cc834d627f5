from mobilevid.cli import main

raise SystemExit(main())
