from tinyops.cli.main import cli

cli()
