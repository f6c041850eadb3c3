"""One command line and narrow user errors: a bad option is one line with exit 2, a bug shows its
traceback; former ``python -m`` entry points are subcommands; listing stays free of torch."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import attrbench
from attrbench import errors
from attrbench.cli import COMMANDS, main

ROOT = Path(attrbench.__file__).resolve().parents[1]

FACTORY = textwrap.dedent(
    """
    import torch
    from attrbench.testing.models import tiny_bagnet

    def make():
        return tiny_bagnet(9, num_classes=3, width=4, seed=1, dtype=torch.float32, input_size=(48, 48))
    """
)


@pytest.fixture
def tiny_run(tmp_path, monkeypatch) -> list[str]:
    """``attrbench run`` arguments for a 2-image run of a tiny BagNet on SynthBirds."""
    (tmp_path / "usermodels_errors.py").write_text(FACTORY)
    monkeypatch.syspath_prepend(str(tmp_path))
    return ["run", "--quiet", "--model", "usermodels_errors:make", "--n-samples", "2", "--metrics", "gt",
            "--out", str(tmp_path / "r")]


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("attrbench: error: ")
    return err[0]


def test_user_errors_are_the_projects_types_not_bare_value_or_type_errors() -> None:
    assert ValueError not in errors.USER_ERRORS and TypeError not in errors.USER_ERRORS
    assert not any(t in (Exception, BaseException, RuntimeError, KeyError) for t in errors.USER_ERRORS)
    assert issubclass(errors.OptionError, ValueError) and issubclass(errors.OptionTypeError, TypeError)
    assert not hasattr(errors, "AttributionError")


def test_errors_is_the_bottom_layer() -> None:
    tree = ast.parse(Path(errors.__file__).read_text())
    imported = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    imported += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert not [m for m in imported if m and m.startswith("attrbench")]


@pytest.mark.parametrize(
    ("option", "expected"),
    [
        ("ig[n_steps=abc]", "ig[n_steps=abc]: option 'n_steps' expects int, got 'abc'"),
        ("ig[n_stpes=4]", "ig[n_stpes=4]: unknown option 'n_stpes'; did you mean 'n_steps'?"),
        ("gradcam[layer=net.nope]", "model has no submodule 'net.nope'"),
    ],
)
def test_bad_user_option_is_one_line_with_exit_2(option, expected, tiny_run, capsys) -> None:
    assert main([*tiny_run, "--method", option]) == 2
    assert expected in _error_line(capsys)


def test_internal_bug_shows_its_traceback(tiny_run, monkeypatch) -> None:
    """A ValueError in the runner's own code (here: summarising the merged records) is a bug.

    It propagates out of the CLI (traceback, exit 1) instead of printing as a user error. (An
    exception raised by a method's own ``attribute`` or by the post-processing of its maps is
    recorded as failed samples by design, issue 12.)
    """
    import attrbench.runner

    def broken(*args, **kwargs):  # noqa: ANN002, ANN003
        raise ValueError("internal bug")

    monkeypatch.setattr(attrbench.runner, "summarise", broken)
    with pytest.raises(ValueError, match="internal bug"):
        main([*tiny_run, "--method", "saliency"])


def test_internal_bug_exits_non_zero_in_a_process(tmp_path) -> None:
    script = tmp_path / "bug.py"
    script.write_text(textwrap.dedent("""
        import sys
        from attrbench import cli
        from attrbench.commands import list_

        def broken(args):
            raise TypeError("internal bug")

        list_.main = broken
        sys.exit(cli.main(["list", "methods"]))
    """))
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert "Traceback (most recent call last)" in proc.stderr and "TypeError: internal bug" in proc.stderr


@pytest.mark.parametrize("command", ["leaderboard", "checkpoints", "train-embedding", "experiment", "references"])
def test_former_module_mains_are_subcommands(command) -> None:
    assert command in COMMANDS


def test_python_m_attrbench_and_python_m_attrbench_train() -> None:
    """``python -m attrbench --help`` works; ``python -m attrbench.train`` trains (not the table)."""
    top = subprocess.run([sys.executable, "-m", "attrbench", "--help"], capture_output=True, text=True, timeout=120)
    assert top.returncode == 0 and all(name in top.stdout for name in COMMANDS)
    train = subprocess.run([sys.executable, "-m", "attrbench.train", "--help"], capture_output=True, text=True,
                           timeout=120)
    assert train.returncode == 0 and "usage: attrbench train" in train.stdout and "--arch" in train.stdout


def test_references_needs_write(capsys) -> None:
    assert main(["references", "ig"]) == 2
    assert "pass --write" in _error_line(capsys)


@pytest.mark.parametrize("argv", [["list", "methods"], ["list", "datasets"], ["--help"]])
def test_listing_does_not_import_torch(argv) -> None:
    code = (f"import sys\nfrom attrbench.cli import main\ntry:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
            "assert 'torch' not in sys.modules and 'pandas' not in sys.modules, 'heavy import'")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(module, inside a function) for every ``from X import`` / ``import X`` in a file."""
    tree = ast.parse(path.read_text())
    nested = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
              for n in ast.walk(f) if n is not f}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.append((node.module, id(node) in nested))
        elif isinstance(node, ast.Import):
            out += [(a.name, id(node) in nested) for a in node.names]
    return out


def test_methods_never_import_the_embedding_track() -> None:
    for path in sorted((ROOT / "methods").glob("*.py")):
        bad = [m for m, _ in _imports(path) if m.startswith("attrbench.embedding")]
        assert not bad, f"{path.name} imports {bad}"
        assert not path.name.startswith("_") or path.name == "__init__.py", f"private helper module {path.name}"


def test_embedding_imports_methods_at_module_level_only() -> None:
    for path in sorted((ROOT / "attrbench" / "embedding").glob("*.py")):
        bad = [m for m, inside in _imports(path) if inside and m.startswith(("attrbench.methods", "attrbench.embedding"))]
        assert not bad, f"{path.name} imports {bad} inside a function"
