"""An emulated accelerator on the CPU, to check that code puts its work on the default device.

On a CUDA machine a chapter that leaves a network or its data on the CPU fails with
"Expected all tensors to be on the same device", or silently trains on the CPU. The test
machines have no GPU, so :func:`install` emulates one: ``mvdlib.default_device()`` returns
:data:`DEVICE` (``cpu:0``, which PyTorch computes on like the CPU), and a
``TorchFunctionMode`` tags every tensor that is moved to it, made on it, or computed from a
tagged tensor. It then enforces what CUDA enforces and a bit more:

* an operation mixing tagged and untagged tensors (other than 0-d ones) raises, as CUDA does;
* a tagged tensor cannot become a NumPy array (``.numpy()``, ``np.asarray``): ``.cpu()`` first;
* every call of a module with at least :data:`MIN_NETWORK_PARAMETERS` parameters, made from
  outside any other module, must find all of them tagged (or on the ``meta`` device, which
  holds no data): a network left on the CPU raises.

Tagged tensors report ``DEVICE`` as their ``.device``, so library code that follows a model's
device (``next(model.parameters()).device``) works as it would on CUDA.
"""

from __future__ import annotations

import functools

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

DEVICE = torch.device("cpu", 0)
CPU = torch.device("cpu")
# A "network": single layers built to show an equation (a 3x3 convolution, a BatchNorm) may
# stay on the CPU; anything this large is a model and must be on the default device.
MIN_NETWORK_PARAMETERS = 10_000
_TAG = "_on_emulated_device"


class EmulatedDeviceError(RuntimeError):
    """Raised where a real accelerator would fail, or where work was left on the CPU."""


def on_device(t: torch.Tensor) -> bool:
    return getattr(t, _TAG, False)


def _tag(t: torch.Tensor, value: bool) -> torch.Tensor:
    setattr(t, _TAG, value)
    return t


def _tensors(obj: object, found: list[torch.Tensor]) -> list[torch.Tensor]:
    """The tensors in ``obj`` and the lists, tuples and dicts nested in it, in order (what
    ``torch.utils._pytree.tree_flatten`` finds in a torch call's arguments, at a fraction of its
    cost, which this mode pays on every operation)."""
    if isinstance(obj, torch.Tensor):
        found.append(obj)
    elif isinstance(obj, (list, tuple)):
        for item in obj:
            _tensors(item, found)
    elif isinstance(obj, dict):
        for item in obj.values():
            _tensors(item, found)
    return found


def _as_device(x: object) -> torch.device | None:
    if isinstance(x, torch.device):
        return x
    if isinstance(x, str):
        try:
            return torch.device(x)
        except RuntimeError:
            return None
    return None


def _target(func, args, kwargs) -> torch.device | None:
    """The device a conversion or factory call asks for (``None`` when it asks for none)."""
    if func in (torch.Tensor.cpu,):
        return CPU
    if func is torch.Tensor.cuda:
        raise EmulatedDeviceError("a chapter called .cuda(): use mvdlib.default_device()")
    if func is torch.Tensor.to:
        for a in list(args[1:]) + list(kwargs.values()):
            if isinstance(a, torch.Tensor):
                return DEVICE if on_device(a) else CPU
            device = _as_device(a)
            if device is not None:
                return device
        return None
    return _as_device(kwargs.get("device"))


_DEVICE_GET = torch.Tensor.device.__get__
_NUMPY = {torch.Tensor.numpy, torch.Tensor.__array__}
# Indexing with CPU indices, copying across devices and printing are allowed on CUDA too;
# a deep copy's memo holds other tensors. The result is where the first argument is.
_ANY_DEVICE = {
    torch.Tensor.__getitem__,
    torch.Tensor.__setitem__,
    torch.Tensor.copy_,
    torch.Tensor.__repr__,
    torch.Tensor.__format__,
    torch.Tensor.__str__,
    torch.Tensor.__deepcopy__,
    torch._has_compatible_shallow_copy_type,
}


class EmulatedDevice(TorchFunctionMode):
    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func == _DEVICE_GET:
            return DEVICE if on_device(args[0]) else func(*args)
        tensors = _tensors(kwargs, _tensors(args, []))
        tagged = [t for t in tensors if on_device(t)]
        if func in _NUMPY and tagged:
            raise EmulatedDeviceError(f"can't convert {DEVICE} (emulated accelerator) tensor to numpy: .cpu() first")
        target = _target(func, args, kwargs)
        untagged = [t for t in tensors if not on_device(t) and t.dim() > 0]
        if target is None and tagged and untagged and func not in _ANY_DEVICE:
            shapes = [tuple(t.shape) for t in untagged][:3]
            raise EmulatedDeviceError(
                f"{getattr(func, '__name__', func)}: expected all tensors on one device, got tensors on {DEVICE} "
                f"(emulated accelerator) and on the CPU (shapes {shapes})"
            )
        out = func(*args, **kwargs)
        if target is None:
            first = args[0] if args else None
            value = on_device(first) if func in _ANY_DEVICE and isinstance(first, torch.Tensor) else bool(tagged)
        else:
            value = target == DEVICE
            if tensors and isinstance(tensors[0], nn.Parameter):  # Module.to keeps the Parameter, new data
                _tag(tensors[0], value)
            if tensors and out is tensors[0] and not isinstance(out, nn.Parameter) and on_device(out) != value:
                out = out.view_as(out)  # a real move makes a new tensor: keep the source where it was
        if target is not None or tensors or value:
            for t in _tensors(out, []):
                _tag(t, value)
        return out


_depth = 0


def _check_network(module: nn.Module, args: tuple) -> None:
    if _depth > 1:  # called from inside another module: its caller was checked
        return
    params = list(module.parameters())
    if sum(p.numel() for p in params) >= MIN_NETWORK_PARAMETERS and not all(on_device(p) or p.is_meta for p in params):
        raise EmulatedDeviceError(
            f"{type(module).__name__} ({sum(p.numel() for p in params):,} parameters) ran on the CPU while "
            f"mvdlib.default_device() is {DEVICE}: move it with .to(device)"
        )


def _enter(module: nn.Module, args: tuple) -> None:
    global _depth
    _depth += 1
    _check_network(module, args)


def _leave(module: nn.Module, args: tuple, output: object) -> None:
    global _depth
    _depth -= 1


_installed: list = []  # (original default_device, original Parameter.__new__, hook handles)


def _parameter_new(cls, data=None, requires_grad=True):
    """``nn.Parameter(data)`` stays where ``data`` is (a deep copy of a model makes new Parameters)."""
    param = _installed[-1][1](cls, data, requires_grad)
    return _tag(param, True) if data is not None and on_device(data) else param


def install() -> EmulatedDevice:
    """Make ``mvdlib.default_device()`` the emulated accelerator and start enforcing it."""
    import mvdlib
    import mvdlib.runtime

    original = mvdlib.runtime.default_device
    mvdlib.default_device = mvdlib.runtime.default_device = functools.wraps(original)(lambda: DEVICE)
    hooks = [
        nn.modules.module.register_module_forward_pre_hook(_enter),
        nn.modules.module.register_module_forward_hook(_leave, always_call=True),
    ]
    _installed.append((original, nn.Parameter.__new__, hooks))
    nn.Parameter.__new__ = staticmethod(_parameter_new)
    mode = EmulatedDevice()
    mode.__enter__()
    return mode


def uninstall() -> None:
    """Undo :func:`install` (after leaving the mode it returned)."""
    import mvdlib
    import mvdlib.runtime

    original, parameter_new, hooks = _installed.pop()
    mvdlib.default_device = mvdlib.runtime.default_device = original
    nn.Parameter.__new__ = staticmethod(parameter_new)
    for hook in hooks:
        hook.remove()
