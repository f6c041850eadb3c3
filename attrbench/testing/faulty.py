"""Broken methods for failure-isolation tests (issue 12, cases 6 and the SystemExit case).

Each is a :class:`~attrbench.testing.toys.ToyInputXGradient` that misbehaves in one way, addressable
by ``attrbench.testing.faulty:<Class>`` from a command line:

- :class:`WrongResolution`: declares input resolution but returns (B, 3, H - 5, W - 5) maps;
- :class:`MarkFirst`: correct maps but the first sample's carries :data:`MARK`;
- :class:`ExitingMethod`: calls ``sys.exit(3)``;
- :class:`InterruptingMethod`: raises KeyboardInterrupt (as Ctrl-C would);
- :class:`AlwaysFailing`: raises RuntimeError on every call.
"""

from __future__ import annotations

import sys

from torch import Tensor

from attrbench.api import MethodInfo, Resolution, Target
from attrbench.testing.toys import ToyInputXGradient

__all__ = ["MARK", "AlwaysFailing", "ExitingMethod", "InterruptingMethod", "MarkFirst", "WrongResolution"]

#: the value :class:`MarkFirst` writes into its first map.
MARK = 12345.0


class WrongResolution(ToyInputXGradient):
    """Input-resolution maps cropped by 5 pixels: (B, 3, H - 5, W - 5), which post-processing refuses."""

    info = MethodInfo(name="toy-wrong-resolution", paper="test stand-in", resolution=Resolution.INPUT)

    def attribute(self, inputs: Tensor, *, target: Target) -> Tensor:
        return super().attribute(inputs, target=target)[..., 5:, 5:]


class MarkFirst(ToyInputXGradient):
    """Correct maps, except that pixel [0, 0, 0] of the first sample's map is :data:`MARK` (for a
    post-processing step that fails on marked maps)."""

    info = MethodInfo(name="toy-mark-first", paper="test stand-in", resolution=Resolution.INPUT)

    def attribute(self, inputs: Tensor, *, target: Target) -> Tensor:
        out = super().attribute(inputs, target=target)
        out[0, 0, 0, 0] = MARK
        return out


class ExitingMethod(ToyInputXGradient):
    """Calls ``sys.exit(3)``: a broken method, not a request to end the run."""

    info = MethodInfo(name="toy-exit", paper="test stand-in", resolution=Resolution.INPUT)

    def attribute(self, inputs: Tensor, *, target: Target) -> Tensor:
        sys.exit(3)


class InterruptingMethod(ToyInputXGradient):
    """Raises KeyboardInterrupt, as Ctrl-C during the method call would."""

    info = MethodInfo(name="toy-interrupt", paper="test stand-in", resolution=Resolution.INPUT)

    def attribute(self, inputs: Tensor, *, target: Target) -> Tensor:
        raise KeyboardInterrupt


class AlwaysFailing(ToyInputXGradient):
    """Raises RuntimeError on every call: a run of only this method has no ok record."""

    info = MethodInfo(name="toy-always-failing", paper="test stand-in", resolution=Resolution.INPUT)

    def attribute(self, inputs: Tensor, *, target: Target) -> Tensor:
        raise RuntimeError("always fails")
