"""The exercise checks (:mod:`mvdlib.classroom.check`): a right answer passes, a mistake gets its hint, a stub is seen.

Right answers are written here from the chapters' formulas, independently of the checks'
internals; each typical mistake is the answer a student would plausibly write, and the test
asserts the check's specific hint. ``ANSWERS`` holds one of each for every exercise of the
registry, and one parametrised test runs them all.
"""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mvdlib import check as old_check
from mvdlib.check import _core as old_core
from mvdlib.check import ch01 as old_ch01
from mvdlib.check import ch09 as old_ch09
from mvdlib.classroom import check
from mvdlib.classroom.check import REGISTRY
from mvdlib.classroom.check._core import FAIL, LOG_ENV, NOT_ATTEMPTED, PASS, STRICT_ENV
from mvdlib.classroom.grade import exercise_sort_key
from mvdlib.classroom.isolated import salted_inputs
from mvdlib.diagnostics import apply_init, plain_stack, weight_gradient_norms


@pytest.fixture(autouse=True)
def _lenient(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(STRICT_ENV, raising=False)
    monkeypatch.delenv(LOG_ENV, raising=False)


def stub(*args: Any) -> Any:
    """A function whose body is still the stub."""
    ...  # your code here


# ---- chapters 1-6: right answers, written from the chapters' formulas ------------------


def scale_k(K: np.ndarray, sx: float, sy: float) -> np.ndarray:
    out = K.astype(float).copy()
    out[0] *= sx
    out[1] *= sy
    out[0, 2] += 0.5 * sx - 0.5
    out[1, 2] += 0.5 * sy - 0.5
    return out


def strided_k(K: np.ndarray, step: int) -> np.ndarray:
    out = K.astype(float).copy()
    out[:2] /= step
    return out


def z_rays(K: np.ndarray, h: int, w: int) -> np.ndarray:
    v, u = np.mgrid[0:h, 0:w]
    return np.linalg.solve(K, np.stack([u.ravel(), v.ravel(), np.ones(u.size)]))


def ray_length_to_depth(L: np.ndarray, K: np.ndarray) -> np.ndarray:
    return L / np.linalg.norm(z_rays(K, *L.shape), axis=0).reshape(L.shape)


def plane_depth(K: np.ndarray, R: np.ndarray, h: int, w: int, plane_z: float) -> np.ndarray:
    return (plane_z / (R @ z_rays(K, h, w))[2]).reshape(h, w)


def loss_of_scale(s: float, lam: float) -> float:
    return (1 - lam) * math.log(s) ** 2


def taps_per_output(k: int, s: int) -> list[int]:
    return [len(range(r, k, s)) for r in range(s)]


def fast_upconv(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    xp = F.pad(x, (1, 1, 1, 1))
    out = x.new_zeros(x.shape[0], w.shape[0], 2 * x.shape[2], 2 * x.shape[3])
    for r in (0, 1):
        for c in (0, 1):
            out[..., r::2, c::2] = F.conv2d(xp[..., r:, c:], w[:, :, r::2, c::2])  # 3 taps (r = 0) or 2 (r = 1)
    return out


def berhu(e: torch.Tensor, c: float) -> torch.Tensor:
    return torch.where(e.abs() <= c, e.abs(), (e**2 + c**2) / (2 * c))


def masked_mean_downsample(target: torch.Tensor, valid: torch.Tensor, factor: int) -> torch.Tensor:
    total = F.avg_pool2d(torch.where(valid, target, 0.0), factor)
    count = F.avg_pool2d(valid.to(target.dtype), factor)
    return torch.where(count > 0, total / count.clamp(min=1e-12), 0.0)


def running_var_after(batch_vars: list[float], momentum: float) -> list[float]:
    v, out = 1.0, []
    for b in batch_vars:
        v = (1 - momentum) * v + momentum * b
        out.append(v)
    return out


def batch_norm_1d(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    mu = x.mean(0)
    return gamma * (x - mu) / torch.sqrt(((x - mu) ** 2).mean(0) + eps) + beta


def align_scale_shift(p, t):
    """Least squares of (a, b) from the normal equations [[sum p^2, sum p], [sum p, n]] [a, b] = [sum p t, sum t]."""
    p, t = np.asarray(p, dtype=float), np.asarray(t, dtype=float)
    A = np.array([[p @ p, p.sum()], [p.sum(), len(p)]])
    return np.linalg.solve(A, [p @ t, t.sum()])


def make_ordinal_pair(flip_sign=False, equal_as_ranked=False, grad_sign=1.0):
    def ordinal_pair(z_i, z_j, r):
        diff = z_i - z_j
        if r == 0 and not equal_as_ranked:
            return diff**2, 2 * diff
        x = (r if flip_sign else -r) * diff
        loss = math.log(1 + math.exp(x))
        return loss, grad_sign * (-r) * math.exp(x) / (1 + math.exp(x))

    return ordinal_pair


def make_up_projection_params(projection=True, bn_per_channel=2):
    def up_projection_params(c_in, c_out):
        main = 5 * 5 * c_in * c_out + 3 * 3 * c_out * c_out + 2 * bn_per_channel * c_out
        return main + (5 * 5 * c_in * c_out + bn_per_channel * c_out if projection else 0)

    return up_projection_params


def make_seed_summary(ddof=1, per_seed=True, sqrt_n=True):
    def seed_summary(scratch, pretrained):
        a, b = np.asarray(scratch), np.asarray(pretrained)
        n = len(a)
        if per_seed:
            spread = np.std(a - b, ddof=ddof)
        else:
            spread = math.sqrt(np.var(a, ddof=ddof) + np.var(b, ddof=ddof))
        se = spread / math.sqrt(n) if sqrt_n else spread
        mean = float(np.mean(a - b))
        return mean, se, abs(mean) > 2 * se

    return seed_summary


def make_tsdf_update(hidden_weight=0.0, clip=True):
    def tsdf_update(F_old, W_old, s, tau):
        if s < -tau and hidden_weight == 0:
            return F_old, W_old
        psi = max(-1.0, min(1.0, s / tau)) if clip else s / tau
        return (W_old * F_old + psi) / (W_old + 1), W_old + 1

    return tsdf_update


def make_essential_8point(normalise=True, project=True, transpose=False):
    def essential_8point(u_ref, u_src, K):
        to_rays = np.linalg.inv(K) if normalise else np.eye(3)
        x_ref = np.c_[u_ref, np.ones(len(u_ref))] @ to_rays.T
        x_src = np.c_[u_src, np.ones(len(u_src))] @ to_rays.T
        A = np.einsum("ni,nj->nij", x_src, x_ref).reshape(len(x_ref), 9)  # row: x_src^T E x_ref = 0
        E = np.linalg.svd(A)[2][-1].reshape(3, 3)
        if project:
            U, _, Vt = np.linalg.svd(E)
            E = U @ np.diag([1.0, 1.0, 0.0]) @ Vt
        return E.T if transpose else E

    return essential_8point


# ---- typical mistakes, each with a fragment of the hint it must produce --------------------


def _keras_running_var(batch_vars: list[float], momentum: float) -> list[float]:
    v, out = 1.0, []
    for b in batch_vars:
        v = momentum * v + (1 - momentum) * b
        out.append(v)
    return out


def _fast_upconv_unshifted(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    xp = F.pad(x, (1, 1, 1, 1))
    out = x.new_zeros(x.shape[0], w.shape[0], 2 * x.shape[2], 2 * x.shape[3])
    for r in (0, 1):
        for c in (0, 1):
            out[..., r::2, c::2] = F.conv2d(xp, w[:, :, r::2, c::2])[..., : x.shape[2], : x.shape[3]]
    return out


# ---- chapters 7-13: right answers, as a student would write them --------------------------


def tanh_ratio(activation="tanh", scheme="xavier"):
    torch.manual_seed(0)
    x = torch.randn(256, 64, generator=torch.Generator().manual_seed(1))
    target = torch.randn(256, 64, generator=torch.Generator().manual_seed(2))
    net = apply_init(plain_stack([64] * 21, activation), scheme)
    ((net(x) - target) ** 2).mean().backward()
    g = weight_gradient_norms(net)
    return g[0] / g[-1]


def depth_layer_derivative(z):
    s = 1 / (1 + torch.exp(-z))
    return 2 * s * (1 - s)


def dead_fraction(outputs):
    return (outputs.amax(dim=(0, 2, 3)) == 0).float().mean().item()


def leaky_relu_std(fan_in, a):
    return math.sqrt(2.0 / ((1 + a * a) * fan_in))


def make_init(fan="in", power=0.5):
    def my_init(module):
        for m in module.modules():
            if isinstance(m, nn.Conv2d):
                k = m.kernel_size[0] * m.kernel_size[1]
                n = (m.in_channels if fan == "in" else m.out_channels) * k
                with torch.no_grad():
                    m.weight.copy_(torch.randn_like(m.weight) * (2.0 / n) ** power)
                    if m.bias is not None:
                        m.bias.zero_()
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    return my_init


def make_loop_cost_volume(rotation=True):
    def loop_cost_volume(ref, src, K, T_src_ref, inv_depths):
        _, _, h, w = ref.shape
        v, u = torch.meshgrid(torch.arange(h, dtype=ref.dtype), torch.arange(w, dtype=ref.dtype), indexing="ij")
        pix = torch.stack([u.flatten(), v.flatten(), torch.ones(h * w)])
        R = T_src_ref[:3, :3] if rotation else torch.eye(3)
        KRKiUV, KT = K @ R @ torch.linalg.inv(K) @ pix, K @ T_src_ref[:3, 3:]
        out = []
        for s in inv_depths:
            p = KRKiUV / s + KT
            uv = p[:2] / p[2:]
            grid = torch.stack([2 * uv[0] / (w - 1) - 1, 2 * uv[1] / (h - 1) - 1], -1).view(1, h, w, 2)
            out.append((ref - F.grid_sample(src, grid, align_corners=True)).abs().sum(1))
        return torch.stack(out, 1)

    return loop_cost_volume


def count(in_c, out_c, k=3):
    return in_c * out_c * k * k + 2 * out_c


def receptive_field(layers):
    r, j = 1, 1
    for k, s in layers:
        r, j = r + (k - 1) * j, j * s
    return r


def make_flip_vertical(move_geometry=True):
    def flip_vertical(sample):
        h = sample["ref_image"].shape[-2]
        K = sample["K"].clone()
        F4 = torch.eye(4)
        if move_geometry:
            K[1, 2], K[0, 1] = (h - 1) - K[1, 2], -K[0, 1]
            F4 = torch.diag(torch.tensor([1.0, -1.0, 1.0, 1.0]))
        out = dict(sample)
        out.update(
            {k: sample[k].flip(-2) for k in ("ref_image", "src_images", "ref_depth")},
            K=K,
            T_world_ref=F4 @ sample["T_world_ref"] @ F4,
            T_world_srcs=F4 @ sample["T_world_srcs"] @ F4,
        )
        return out

    return flip_vertical


def make_multiscale_l1(mode="nearest-exact"):
    def multiscale_l1(preds, target_inv_depth):
        total = 0.0
        for p in preds:
            t = F.interpolate(target_inv_depth, size=p.shape[-2:], mode=mode)
            total = total + (p - t).abs()[t > 0].mean()
        return total

    return multiscale_l1


def make_count_confirming(use_inverse=True):
    def count_confirming(X, views, rel_tol=0.02):
        n = 0
        for view in views:
            T = np.linalg.inv(view.T_world_cam) if use_inverse else view.T_world_cam
            Xc = T @ np.append(X, 1.0)
            if Xc[2] <= 0:
                continue
            u, v = np.round((view.K @ Xc[:3])[:2] / Xc[2]).astype(int)
            h, w = view.depth.shape
            if 0 <= u < w and 0 <= v < h and view.depth[v, u] > 0:
                n += int(abs(Xc[2] - view.depth[v, u]) <= rel_tol * view.depth[v, u])
        return n

    return count_confirming


def make_precision_recall_f(swap=False):
    def precision_recall_f(pred, gt, t):
        if swap:
            pred, gt = gt, pred
        d = np.sqrt(((pred[:, None, :] - gt[None, :, :]) ** 2).sum(-1))
        p, r = np.mean(d.min(axis=1) <= t), np.mean(d.min(axis=0) <= t)
        return p, r, 2 * p * r / (p + r)

    return precision_recall_f


def make_weighted_smoothness(reduce_channels="mean"):
    def weighted_smoothness(xi, image, alpha):
        loss = 0
        for dim in (3, 2):
            grad = image.diff(dim=dim).abs()
            grad = grad.mean(1, keepdim=True) if reduce_channels == "mean" else grad.sum(1, keepdim=True)
            loss = loss + (xi.diff(dim=dim).abs() * torch.exp(-alpha * grad)).mean()
        return loss

    return weighted_smoothness


def make_flying(rule=all):
    def my_flying_pixels(pred, gt, radius=2, rel_tol=0.05):
        h, w = gt.shape
        out = np.zeros((h, w), dtype=bool)
        for v, u in zip(*np.nonzero(gt > 0), strict=True):
            window = gt[max(0, v - radius) : v + radius + 1, max(0, u - radius) : u + radius + 1]
            q = window[window > 0]
            out[v, u] = rule(np.abs(pred[v, u] - q) > rel_tol * q)
        return out

    return my_flying_pixels


# ---- typical mistakes, each with a fragment of the hint it must produce --------------------


# ---- the table: exercise -> (right answer, (typical mistake, words of its hint)) ------------

ANSWERS: dict[str, tuple[Any, tuple[Any, str]]] = {
    "1.3": (scale_k, (lambda K, sx, sy: np.diag([sx, sy, 1.0]) @ K, "like the focal lengths")),
    "1.5": (strided_k, (lambda K, step: scale_k(K, 1 / step, 1 / step), "K of a resize")),
    "2.1": (ray_length_to_depth, (lambda L, K: L, "the distance itself")),
    "2.3": (plane_depth, (lambda K, R, h, w, z: plane_depth(K, R.T, h, w, z), "tilts the wrong way")),
    "3.2": (loss_of_scale, (lambda s, lam: math.log(s) ** 2, "scale term")),
    "3.3": (receptive_field, (lambda layers: 1 + sum(k - 1 for k, _ in layers), "as if every stride were 1")),
    "4.1": (taps_per_output, (lambda k, s: [k // s] * s, "rounds down")),
    "4.2": (fast_upconv, (_fast_upconv_unshifted, "drop the first padded row")),
    "4.5": (make_up_projection_params(), (make_up_projection_params(projection=False), "projection branch")),
    "5.1": (berhu, (lambda e, c: torch.where(e.abs() <= c, e.abs(), e**2 / (2 * c)), "jumps at |e| = c")),
    "5.3": (masked_mean_downsample, (lambda t, v, f: F.avg_pool2d(t * v, f), "towards 0")),
    "5.5": (align_scale_shift, (lambda p, t: (float((p * t).sum() / (p * p).sum()), 0.0), "second unknown")),
    "5.6": (make_ordinal_pair(), (make_ordinal_pair(flip_sign=True), "sign is reversed")),
    "6.2": (running_var_after, (_keras_running_var, "Keras")),
    "6.3": (
        batch_norm_1d,
        (lambda x, g, b, eps: g * (x - x.mean(0)) / torch.sqrt(x.var(0) + eps) + b, "unbiased variance"),
    ),
    "7.4": (tanh_ratio(), (1 / tanh_ratio(), "last / first")),
    "7.5": (depth_layer_derivative, (lambda z: depth_layer_derivative(z) / 2, "factor 2")),
    "7.6": (dead_fraction, (lambda o: (o == 0).float().mean().item(), "zero entries")),
    "8.1": (leaky_relu_std, (lambda n, a: math.sqrt(2.0 / n), "plain ReLU")),
    "8.3": (make_init(), (make_init(fan="out"), "fan-out")),
    "9.1": (285 * 0.1 * (2 - 0.02) / 63, (285 * 0.1 * (2 - 0.02) / 64, "63 gaps")),
    "9.2": (make_loop_cost_volume(), (make_loop_cost_volume(rotation=False), "rotation")),
    "10.3": (count, (lambda i, o, k=3: i * o * k * k, "BatchNorm is missing")),
    "10.5": (receptive_field, (lambda layers: 1 + sum(k - 1 for k, _ in layers), "spacing j")),
    "11.3": (make_flip_vertical(), (make_flip_vertical(move_geometry=False), "images alone")),
    "11.5": (make_multiscale_l1(), (make_multiscale_l1("area"), "pick the nearest pixel")),
    "11.6": (make_seed_summary(), (make_seed_summary(sqrt_n=False), "sqrt(n)")),
    "12.3": (make_count_confirming(), (make_count_confirming(use_inverse=False), "inverse")),
    "12.6": (make_precision_recall_f(), (make_precision_recall_f(swap=True), "swapped")),
    "12.7": (make_tsdf_update(), (make_tsdf_update(hidden_weight=1.0), "weight 0")),
    "12.8": (make_essential_8point(), (make_essential_8point(transpose=True), "transpose")),
    "13.2": (make_weighted_smoothness(), (make_weighted_smoothness("sum"), "colour channels")),
    "13.5": (make_flying(), (make_flying(any), "*every*")),
}
KEYS = sorted(REGISTRY, key=exercise_sort_key)


def run(key: str, answer: Any, capsys: pytest.CaptureFixture[str]) -> check.Result:
    result = REGISTRY[key](answer)
    assert capsys.readouterr().out.strip() == result.line()  # exactly one printed line
    return result


def test_every_check_of_the_registry_has_an_answer_here_and_each_chapter_two_checks() -> None:
    assert set(REGISTRY) == set(ANSWERS)
    for chapter in range(1, 14):
        keys = [k for k in REGISTRY if k.split(".")[0] == str(chapter)]
        assert len(keys) >= 2, f"chapter {chapter} has checks {keys}"
        for key in keys:  # and each is reachable as check.exercise_C_N
            assert getattr(check, f"exercise_{key.replace('.', '_')}") is REGISTRY[key]


@pytest.mark.parametrize("key", KEYS)
def test_check_passes_the_right_answer_and_no_stub_or_mistake(key: str, capsys: pytest.CaptureFixture[str]) -> None:
    right, (mistake, _) = ANSWERS[key]
    result = run(key, right, capsys)
    assert result.passed and result.status == PASS, result.line()
    stubs = [..., None, stub] if callable(right) else [..., None]  # a value exercise has no function stub
    for answer in stubs:
        result = run(key, answer, capsys)
        assert not result.passed and result.status == NOT_ATTEMPTED, (answer, result.line())
        assert result.line().endswith("not attempted yet")
    result = run(key, mistake, capsys)
    assert not result.passed and result.status == FAIL, result.line()


@pytest.mark.parametrize("key", KEYS)
def test_check_names_the_typical_mistake(key: str, capsys: pytest.CaptureFixture[str]) -> None:
    mistake, words = ANSWERS[key][1]
    assert words in run(key, mistake, capsys).message


def test_a_raising_answer_is_reported_not_raised(capsys):
    def broken(*args):
        raise RuntimeError("boom")

    result = run("9.2", broken, capsys)
    assert result.status == "error" and "boom" in result.message


def test_strict_mode_fails_a_wrong_answer(monkeypatch, capsys):
    monkeypatch.setenv("MVDLIB_CHECK_STRICT", "1")
    with pytest.raises(AssertionError, match="Exercise 10.3"):
        check.exercise_10_3(lambda i, o, k=3: i * o * k * k)


def test_checks_leave_the_global_random_state_alone(capsys):
    ratio, my_init = tanh_ratio(), make_init()
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    check.exercise_7_4(ratio)
    check.exercise_8_3(my_init)
    check.exercise_10_3(count)
    assert torch.equal(torch.random.get_rng_state(), before)


def test_more_typical_mistakes_get_their_own_hints(capsys):
    assert "z itself" in check.exercise_7_5(lambda z: 2 * z * (1 - z)).message
    assert "(image, channel) pairs" in check.exercise_7_6(lambda o: (o == 0).flatten(2).all(2).float().mean()).message
    assert "variance" in check.exercise_8_1(lambda n, a: 2.0 / ((1 + a * a) * n)).message
    assert "std sqrt(2 / n)" in check.exercise_8_3(make_init(power=1.0)).message
    assert "uniformly in depth" in check.exercise_9_1(35.0).message
    assert "no bias" in check.exercise_10_3(lambda i, o, k=3: i * o * k * k + 3 * o).message
    assert (
        "skew"
        in check.exercise_11_3(
            lambda s: {
                **make_flip_vertical()(s),
                "K": make_flip_vertical()(s)["K"] * torch.tensor([[1, -1, 1], [1, 1, 1], [1, 1, 1]]),
            }
        ).message
    )
    assert (
        "left out"
        in check.exercise_11_5(
            lambda preds, t: sum(
                (p - F.interpolate(t, size=p.shape[-2:], mode="nearest-exact")).abs().mean() for p in preds
            )
        ).message
    )
    assert (
        "harmonic"
        in check.exercise_12_6(
            lambda a, b, t: (*make_precision_recall_f()(a, b, t)[:2], sum(make_precision_recall_f()(a, b, t)[:2]) / 2)
        ).message
    )
    assert (
        "fall, not grow"
        in check.exercise_13_2(
            lambda xi, im, al: sum(
                (xi.diff(dim=d).abs() * torch.exp(al * im.diff(dim=d).abs().mean(1, keepdim=True))).mean()
                for d in (3, 2)
            )
        ).message
    )


SECOND_MISTAKES = [  # (exercise, a second typical mistake, words of its hint)
    ("4.5", make_up_projection_params(bn_per_channel=4), "buffers"),
    ("4.5", lambda c_in, c_out: 50 * c_in * c_out + 9 * c_out**2 + 9 * c_out, "no bias"),
    ("5.5", lambda p, t: (float(t.std() / p.std()), float(t.mean() - t.std() / p.std() * p.mean())), "spreads"),
    (
        "5.5",
        lambda p, t: (
            a := ((p - p.mean()) * (t - t.mean())).sum() / ((t - t.mean()) ** 2).sum(),
            t.mean() - a * p.mean(),
        ),
        "regresses p on t",
    ),
    ("5.6", make_ordinal_pair(equal_as_ranked=True), "not log 2"),
    ("5.6", make_ordinal_pair(grad_sign=-1.0), "wrong sign"),
    ("11.6", make_seed_summary(ddof=0), "n - 1"),
    ("11.6", make_seed_summary(per_seed=False), "paired"),
    ("11.6", lambda a, b: (*make_seed_summary()(a, b)[:2], True), "2 SE"),
    ("12.7", make_tsdf_update(clip=False), "min(1, s / tau)"),
    (
        "12.7",
        lambda F_old, W_old, s, tau: (
            make_tsdf_update()(F_old, W_old, s, tau)
            if W_old == 0 or s < -tau
            else ((F_old + min(1.0, s / tau)) / 2, W_old + 1)
        ),
        "(W F + psi) / (W + 1)",
    ),
    ("12.8", make_essential_8point(project=False), "(1, 1, 0)"),
    ("12.8", make_essential_8point(normalise=False), "fundamental matrix"),
]


@pytest.mark.parametrize(("key", "mistake", "words"), SECOND_MISTAKES)
def test_new_checks_name_a_second_typical_mistake(key: str, mistake: Any, words: str, capsys) -> None:
    result = run(key, mistake, capsys)
    assert result.status == FAIL and words in result.message, result.line()


# ---- the notebooks call the checks where the convention says ---------------------------------

ROOT = Path(__file__).resolve().parents[2]
EXERCISE = re.compile(r"^`{3,}\{exercise\}", re.M)
CALL = re.compile(r"check\.exercise_(\d+)_(\d+)\(")


@pytest.mark.parametrize("chapter", range(7, 14))
def test_each_check_runs_in_the_solution_cell_after_its_exercise(chapter):
    (path,) = ROOT.glob(f"chapters/{chapter:02d}_*.ipynb")
    seen, called = 0, []
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type == "markdown":
            seen += len(EXERCISE.findall(cell.source))
            continue
        for c, n in CALL.findall(cell.source):
            assert (int(c), int(n)) == (chapter, seen), f"{path.name}: check {c}.{n} runs after exercise {seen}"
            assert {"solution", "hide-input"} <= set(cell.metadata.get("tags", [])), cell.source[:80]
            begins, ends = cell.source.count("### BEGIN SOLUTION"), cell.source.count("### END SOLUTION")
            assert begins == ends >= 1, f"{path.name}: unbalanced solution markers in check {c}.{n}'s cell"
            called.append(f"{c}.{n}")
    assert sorted(called) == sorted(k for k in ANSWERS if k.startswith(f"{chapter}."))


def test_an_answer_that_raises_is_reported_not_raised() -> None:
    def broken(K: np.ndarray, sx: float, sy: float) -> np.ndarray:
        raise KeyError("oops")

    result = check.exercise_1_3(broken)
    assert result.status == "error" and "KeyError" in result.message


def test_a_wrong_shape_is_a_hint_not_a_traceback() -> None:
    result = check.exercise_1_5(lambda K, step: K[:2])
    assert result.status == FAIL and "shape (3, 3)" in result.message


# ---- the old path, mvdlib.check, for the chapters and student notebooks ---------------------


def test_the_old_path_is_the_same_module_objects() -> None:
    assert old_check is check and sys.modules["mvdlib.check"] is check
    assert old_ch09 is check.ch09 and old_core is check._core and sys.modules["mvdlib.check.ch09"] is check.ch09
    assert old_check.REGISTRY is REGISTRY and old_check.exercise_9_2 is REGISTRY["9.2"]


def test_a_monkeypatch_through_the_old_path_is_seen_through_the_new(monkeypatch: pytest.MonkeyPatch) -> None:
    def patched(answer: Any = ...) -> None: ...

    monkeypatch.setattr(old_check, "exercise_1_3", patched)
    monkeypatch.setattr(old_ch01, "close", patched)
    assert check.exercise_1_3 is patched and check.ch01.close is patched


def test_the_old_path_imports_in_a_fresh_interpreter_without_registering_twice() -> None:
    code = "import mvdlib.check.ch01\nfrom mvdlib import check\nprint(len(check.REGISTRY), check.__name__)"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.split()
    assert out == [str(len(REGISTRY)), "mvdlib.classroom.check"]


@pytest.mark.parametrize("key", [k for k in KEYS if callable(ANSWERS[k][0])])
@pytest.mark.parametrize("salt", [1, 2, 3])
def test_function_checks_hold_on_the_graders_salted_inputs(
    key: str, salt: int, capsys: pytest.CaptureFixture[str]
) -> None:
    """The grader's checker draws unseen inputs (``salted_inputs``); right answers still pass, mistakes fail."""
    right, (mistake, words) = ANSWERS[key]
    with salted_inputs(salt):
        assert run(key, right, capsys).passed, key
        result = run(key, mistake, capsys)
    assert not result.passed and words in result.message, result.line()


def test_salted_inputs_change_what_a_seed_draws_and_are_undone() -> None:
    plain = (np.random.default_rng(0).random(), torch.rand(1, generator=torch.Generator().manual_seed(0)).item())
    with salted_inputs(1):
        salted = (np.random.default_rng(0).random(), torch.rand(1, generator=torch.Generator().manual_seed(0)).item())
    again = (np.random.default_rng(0).random(), torch.rand(1, generator=torch.Generator().manual_seed(0)).item())
    assert salted[0] != plain[0] and salted[1] != plain[1] and again == plain
