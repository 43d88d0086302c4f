from mcp_marshal.cli import main

raise SystemExit(main())
