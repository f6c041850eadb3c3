"""Method registry: names, lazy import, did-you-mean, external classes and entry-point plug-ins."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import torch

from attrbench.api import AttributionMethod, ClassLogit
from attrbench.cli import main as cli_main
from attrbench.methods import METHODS, get_method, list_methods
from attrbench.registry import UnknownNameError
from attrbench.testing.models import tiny_bagnet

BUILTIN = {
    "saliency", "inputxgradient", "ig", "deeplift", "deepliftshap", "gradientshap", "smoothgrad", "vargrad",
    "guidedbackprop", "deconvolution", "occlusion", "gradcam", "guidedgradcam", "gradcampp",
    "random", "sobel", "oracle",
}

PLUGIN = textwrap.dedent(
    '''
    from attrbench.api import AttributionMethod, MethodInfo

    class Ones(AttributionMethod):
        info = MethodInfo(name="ones", paper="test plug-in")

        def __init__(self, model, *, spec, scale: float = 1.0):
            super().__init__(model, spec=spec)
            self.scale = scale

        def attribute(self, inputs, *, target):
            return inputs.new_full(inputs.shape, self.scale)

    class NotAMethod:
        pass
    '''
)


def test_builtin_names_are_listed_sorted_and_unique():
    names = list_methods()
    assert BUILTIN <= set(names)
    assert names == sorted(set(names))
    assert list_methods("grad*") == ["gradcam", "gradcampp", "gradientshap"]
    assert all(path.startswith(("attrbench.methods.", "attrbench.embedding.")) for path in METHODS.values())


def test_every_mapping_entry_resolves_to_its_own_name():
    for name in METHODS:
        cls = get_method(name)
        assert issubclass(cls, AttributionMethod) and cls.info.name == name


def test_unknown_name_suggests_close_matches():
    with pytest.raises(UnknownNameError) as exc:
        get_method("gradcamm")
    msg = str(exc.value)
    assert "Unknown method 'gradcamm'" in msg and "Did you mean 'gradcam'" in msg and "saliency" in msg


def test_listing_does_not_import_captum():
    code = "import sys, attrbench.methods as m; m.list_methods(); print('captum' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.fixture
def plugin_dir(tmp_path, monkeypatch):
    (tmp_path / "myplugin_methods.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    sys.modules.pop("myplugin_methods", None)


def test_external_module_class(plugin_dir):
    cls = get_method("myplugin_methods:Ones")
    model = tiny_bagnet(9)
    x = torch.zeros(1, 3, 16, 16, dtype=torch.float64)
    out = cls(model, spec=model.spec, scale=2.0)(x, target=ClassLogit(torch.tensor([0])))
    assert torch.equal(out, torch.full_like(x, 2.0))
    with pytest.raises(TypeError, match="not a subclass of AttributionMethod"):
        get_method("myplugin_methods:NotAMethod")
    with pytest.raises(AttributeError, match="Nope"):
        get_method("myplugin_methods:Nope")


def test_entry_point_plugin(plugin_dir):
    dist = plugin_dir / "myplugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: myplugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[attrbench.methods]\nones = myplugin_methods:Ones\n")
    assert "ones" in list_methods()
    assert get_method("ones").info.name == "ones"


def test_cli_lists_methods_with_references(capsys):
    assert cli_main(["methods", "grad*"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["method", "resolution", "flags", "reference"]
    assert [line.split()[0] for line in out[1:]] == ["gradcam", "gradcampp", "gradientshap"]
    assert "arXiv 1710.11063" in out[2] and "layer" in out[2]
    assert cli_main(["methods", "--long", "ig"]) == 0
    assert "n_steps=32" in capsys.readouterr().out
    assert cli_main(["methods", "nothing*"]) == 2
    assert "no method matches" in capsys.readouterr().err
