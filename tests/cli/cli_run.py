"""``run_cli``: the genzoo command line in-process, for tests of any area."""


def run_cli(args, capsys):
    """``genzoo ARGS`` in-process: (exit code, stdout, stderr)."""
    from genzoo.cli.main import main

    code = 0
    try:
        main([str(a) for a in args])
    except SystemExit as e:
        code = e.code or 0
    cap = capsys.readouterr()
    return code, cap.out, cap.err
