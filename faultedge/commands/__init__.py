"""One module per `faultedge` subcommand; each exposes register(subparsers)."""
