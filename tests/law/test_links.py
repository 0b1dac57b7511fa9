"""Links and shifts: values at the elbow, limits, the paper's form of the log power law, and gradients."""

import numpy as np
import pytest

from emergence.law.links import LINKS, SHIFTS, ShiftBasis, elbow_at, link_accuracy, link_value, shift_basis

GAPS = np.array([-0.5, -0.1, 0.0, 0.1, 0.5])


@pytest.mark.parametrize(
    "link, params, expected",
    [
        ("relu", {"slope": 1.0}, [0.25, 0.25, 0.25, 0.35, 0.75]),
        ("relu", {"slope": 0.5}, [0.25, 0.25, 0.25, 0.30, 0.50]),
    ],
)
def test_relu_is_flat_at_chance_then_linear(link, params, expected):
    np.testing.assert_allclose(link_accuracy(link, GAPS, 0.25, params), expected)


def test_softplus_tends_to_relu_as_it_sharpens():
    sharp = link_accuracy("softplus", GAPS, 0.25, {"slope": 1.0, "sharpness": 1e-3})
    np.testing.assert_allclose(sharp, link_accuracy("relu", GAPS, 0.25, {"slope": 1.0}), atol=1e-3)
    soft = link_accuracy("softplus", GAPS, 0.25, {"slope": 1.0, "sharpness": 0.1})
    assert np.all(soft >= sharp - 1e-12) and soft[2] == pytest.approx(0.25 + 0.1 * np.log(2))


def test_sigmoid_elbow_is_where_the_midpoint_tangent_meets_chance():
    p = {"ceiling": 0.9, "scale": 0.1}
    mid_gap = 2 * p["scale"]  # the midpoint lies 2 s past the elbow
    acc = lambda g: link_accuracy("sigmoid", np.array([g]), 0.25, p)[0]  # noqa: E731
    assert acc(mid_gap) == pytest.approx(0.25 + 0.65 / 2)
    slope = (acc(mid_gap + 1e-6) - acc(mid_gap - 1e-6)) / 2e-6
    assert acc(mid_gap) - slope * mid_gap == pytest.approx(0.25, abs=1e-6)
    assert link_accuracy("sigmoid", np.array([5.0]), 0.25, p)[0] == pytest.approx(0.9)


@pytest.mark.parametrize("link", LINKS)
def test_links_rise_with_gap(link):
    p = {"slope": 1.0, "sharpness": 0.05, "ceiling": 0.9, "scale": 0.1}
    acc = link_accuracy(link, np.linspace(-1, 1, 50), 0.25, p)
    assert np.all(np.diff(acc) >= 0) and acc[-1] > acc[0]


def test_log_power_shift_is_the_papers_form_anchored_at_d0():
    k, alpha, e0, d0 = 0.05, 1.3, 2.4, 4.0
    d = np.array([16.0, 64.0, 4096.0])
    c = e0 - k * np.log(d0) ** alpha  # the paper's constant C in E(D) = k (ln D)^alpha + C
    p = {"elbow_d0": e0, "shift_k": k, "shift_alpha": alpha}
    np.testing.assert_allclose(elbow_at("log_power", d, p, d0), k * np.log(d) ** alpha + c)
    assert elbow_at("log_power", [0], p, d0)[0] == pytest.approx(e0)  # few-shot rows sit at D0


@pytest.mark.parametrize("shift", ["log_power", "power"])
def test_shift_is_zero_at_d0_and_grows_with_data(shift):
    d = np.array([0, 1, 8, 64, 512, 4096], dtype=float)
    b = shift_basis(shift, d, 0.8, 1.0, 100.0)
    assert b[0] == 0 and b[1] == pytest.approx(0) and np.all(np.diff(b[1:]) > 0)


def test_no_shift_gives_one_elbow():
    assert set(elbow_at("none", [0, 64, 4096], {"elbow_d0": 2.5}, 1.0)) == {2.5}


def test_unknown_forms_are_refused():
    with pytest.raises(ValueError):
        link_accuracy("step", GAPS, 0.25, {})
    with pytest.raises(ValueError):
        shift_basis("linear", np.array([1.0]), 1.0, 1.0, 1.0)


LINK_POINT = {"slope": 0.8, "sharpness": 0.05, "ceiling": 0.85, "scale": 0.1}


@pytest.mark.parametrize("link", LINKS)
def test_link_gradient_matches_finite_differences(link):
    gap, h = np.linspace(-0.6, 0.6, 13) + 0.013, 1e-6  # off the ReLU's kink
    value = link_value(link, gap, 0.25, LINK_POINT, grad=True)
    np.testing.assert_array_equal(value.accuracy, link_accuracy(link, gap, 0.25, LINK_POINT))
    numeric = (
        link_accuracy(link, gap + h, 0.25, LINK_POINT) - link_accuracy(link, gap - h, 0.25, LINK_POINT)
    ) / (2 * h)
    np.testing.assert_allclose(value.d_gap, numeric, rtol=1e-6, atol=1e-8)
    for name, d in value.d_params.items():
        if name == "chance":
            up, dn = (
                link_accuracy(link, gap, 0.25 + h, LINK_POINT),
                link_accuracy(link, gap, 0.25 - h, LINK_POINT),
            )
        else:
            up = link_accuracy(link, gap, 0.25, {**LINK_POINT, name: LINK_POINT[name] + h})
            dn = link_accuracy(link, gap, 0.25, {**LINK_POINT, name: LINK_POINT[name] - h})
        np.testing.assert_allclose(np.broadcast_to(d, gap.shape), (up - dn) / (2 * h), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("shift", SHIFTS)
def test_shift_gradient_matches_finite_differences(shift):
    basis = ShiftBasis.at(shift, np.array([0.0, 64, 256, 1024, 4096]), d0=2.0, d_ref=512.0)
    p, h = {"elbow_d0": 2.4, "shift_k": 0.05, "shift_alpha": 0.9}, 1e-6
    elbow, grad = basis.elbow(p, grad=True)
    np.testing.assert_array_equal(elbow, basis.elbow(p)[0])
    assert set(grad) == ({"shift_k", "shift_alpha"} if shift != "none" else set())
    for name, d in grad.items():
        up, dn = basis.elbow({**p, name: p[name] + h})[0], basis.elbow({**p, name: p[name] - h})[0]
        np.testing.assert_allclose(d, (up - dn) / (2 * h), rtol=1e-6, atol=1e-10)
