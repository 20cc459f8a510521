"""`python -m companion` is the same as the `companion` command."""

from companion.book.cli import main

raise SystemExit(main())
