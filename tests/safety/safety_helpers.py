"""Shared by the safety tests: run the genzoo command line in-process."""
from genzoo.cli.main import main


def cli(args, capsys):
    """(exit code, stdout, stderr) of ``genzoo ARGS``."""
    try:
        main(args)
        code = 0
    except SystemExit as e:
        code = e.code
    out = capsys.readouterr()
    return code, out.out, out.err
