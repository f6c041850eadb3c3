"""The lazy registry: names, did-you-mean, external module:attr."""

from __future__ import annotations

import pytest

from attrbench.registry import Registry, UnknownNameError, import_object


def test_unknown_name_suggests_closest_and_lists_all() -> None:
    reg = Registry("methods", {"ig": "m:IG", "gradcam": "m:GradCAM", "gradcampp": "m:GradCAMpp"})
    with pytest.raises(UnknownNameError) as info:
        reg.path("gradcamm")
    msg = str(info.value)
    assert "Unknown method 'gradcamm'" in msg
    assert "Did you mean 'gradcam'" in msg
    assert "Available: gradcam, gradcampp, ig" in msg


def test_external_module_attr_is_imported(tmp_path, monkeypatch) -> None:
    (tmp_path / "extmod_core.py").write_text("class Thing:\n    value = 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    reg = Registry("things", {})
    assert reg.get("extmod_core:Thing").value == 42
    with pytest.raises(AttributeError, match="has no attribute 'Nope'"):
        import_object("extmod_core:Nope")
    with pytest.raises(ValueError, match="module:attr"):
        import_object("no_colon_here")


def test_base_class_is_enforced(tmp_path, monkeypatch) -> None:
    (tmp_path / "extmod_base.py").write_text("class NotAMethod:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    reg = Registry("methods", {}, base=int)
    with pytest.raises(TypeError, match="not a subclass of int"):
        reg.get("extmod_base:NotAMethod")
