from blur2blur.cli import main

raise SystemExit(main())
