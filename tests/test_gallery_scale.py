"""Gallery: robust per-map scale and class names from the dataset or the model."""

from __future__ import annotations

import torch

from attrbench.gallery import SCALE_PERCENTILE, class_names, map_scale


def test_map_scale_is_the_99th_percentile_of_abs_values() -> None:
    # 1000 values: 990 of |v| <= 1 and 10 huge outliers; the max would make the map look empty
    m = torch.cat([torch.linspace(-1.0, 1.0, 990), torch.full((10,), 1e6)]).view(1, 1, 10, 100)
    s = map_scale(m)
    assert SCALE_PERCENTILE == 99.0
    expected = float(torch.quantile(m.abs().flatten().double(), 0.99))
    assert s == expected and s < 1e6
    assert map_scale(torch.zeros(4, 4)) == 1.0  # all-zero: finite scale
    sparse = torch.zeros(40, 40)
    sparse[0, 0] = -3.0  # the percentile is 0: fall back to the max |value|
    assert map_scale(sparse) == 3.0


class _Data:
    def __init__(self, names):
        self.class_names = names


def test_class_names_prefer_named_dataset_classes() -> None:
    assert class_names(_Data(("Black_footed_Albatross", "Laysan_Albatross")), ("a", "b")) == (
        "Black_footed_Albatross", "Laysan_Albatross")
    assert class_names(_Data(("0", "1")), ("cat", "dog")) == ("cat", "dog")  # bare label numbers
    assert class_names(object(), ("cat",)) == ("cat",)
    assert class_names(_Data(()), ()) == ()
