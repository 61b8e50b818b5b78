"""The seed's claim S-3.2 ("one party changing its offset limits moves the other's price"), with
numbers, for two markets indirectly linked through one commonly accepted offset
(Jaffe, Ranson & Stavins 2009; economics.md §2.3).

Linear MACs ``c_i·a`` and a linear offset supply ``p_off = k·(o_1 + o_2)``. Market i must cover
``R_i = bau_i − cap_i`` by abatement ``a_i`` and offsets ``o_i ≤ L_i``:

* both limits bind: ``o_i = L_i``, ``p_i = c_i·(R_i − L_i)``, ``p_off = k·(L_1 + L_2)``; J1's
  price does not depend on ``L_2`` at all — a change of J2's limit moves the offset price only;
* J1's limit slack: ``p_1 = p_off``, so ``c_1·(R_1 − o_1) = k·(o_1 + L_2)`` and
  ``o_1 = (c_1·R_1 − k·L_2) / (c_1 + k)``, ``p_1 = c_1·k·(R_1 + L_2) / (c_1 + k)``: J1's price
  now rises by ``c_1·k / (c_1 + k)`` per unit J2's limit rises (J2 takes more of the
  offset supply, whose price J1 pays at the margin).
"""

from __future__ import annotations

import pytest

from carbonlink import simulate
from tests.markets.helpers import doc, linear_market

C1, B1, K1 = 1.0, 100.0, 40.0   # R1 = 60, autarky price 60
C2, B2, K2 = 2.0, 50.0, 35.0    # R2 = 15, autarky price 30
K_OFF = 0.5                     # offset supply: p_off = 0.5 · (o1 + o2)
R1, R2 = B1 - K1, B2 - K2


def approx(x: float) -> object:
    return pytest.approx(x, rel=1e-7, abs=1e-7)


def solve(l1: float, l2: float) -> tuple[float, float, float, float, float]:
    r = simulate(doc(linear_market("J1", C1, B1, K1), linear_market("J2", C2, B2, K2),
                     offsets=[{"id": "CER", "supply": {"linear": {"slope": K_OFF}},
                               "accepted_by": {"J1": {"limit": l1}, "J2": {"limit": l2}}}]))
    m = r.markets
    return (float(m.loc["J1", "price"]), float(m.loc["J2", "price"]),
            float(r.offsets.loc["CER", "price"]), float(m.loc["J1", "offsets_used"]),
            float(m.loc["J2", "offsets_used"]))


def test_binding_limits_the_other_partys_limit_change_does_not_move_my_price() -> None:
    # both limits bind: J1 uses its 5, J2 its 2 (then 4) offsets; the offset price is 3.5 (then 4.5)
    p1, p2, poff, o1, o2 = solve(5.0, 2.0)
    q1, q2, qoff, u1, u2 = solve(5.0, 4.0)  # J2 doubles its limit
    assert (o1, o2, u1, u2) == (approx(5.0), approx(2.0), approx(5.0), approx(4.0))
    assert p1 == approx(C1 * (R1 - 5.0)) == approx(55.0)
    assert q1 == approx(55.0)                      # J1's price does not react: 55 → 55
    assert p2 == approx(C2 * (R2 - 2.0)) == approx(26.0)
    assert q2 == approx(C2 * (R2 - 4.0)) == approx(22.0)   # J2's own price moves 26 → 22
    assert poff == approx(K_OFF * 7.0) == approx(3.5)
    assert qoff == approx(K_OFF * 9.0) == approx(4.5)      # and so does the offset price
    # the limits bind: each market's price is above the offset price
    assert p1 > poff and p2 > poff and q1 > qoff and q2 > qoff


def test_slack_limit_the_other_partys_limit_change_moves_my_price() -> None:
    big = 1_000.0  # J1's limit slack, J2's binding
    p1, _, poff, o1, o2 = solve(big, 2.0)
    q1, _, qoff, u1, u2 = solve(big, 4.0)  # J2 doubles its limit, as above
    assert o1 == approx((C1 * R1 - K_OFF * 2.0) / (C1 + K_OFF)) == approx(39.33333333333333)
    assert u1 == approx((C1 * R1 - K_OFF * 4.0) / (C1 + K_OFF)) == approx(38.666666666666664)
    assert (o2, u2) == (approx(2.0), approx(4.0))
    assert p1 == approx(poff) == approx(C1 * K_OFF * (R1 + 2.0) / (C1 + K_OFF))  # 20.666…
    assert q1 == approx(qoff) == approx(C1 * K_OFF * (R1 + 4.0) / (C1 + K_OFF))  # 21.333…
    # J1's price now reacts to J2's limit, by c1·k/(c1 + k) = 1/3 per unit of J2's limit
    assert q1 - p1 == approx(2.0 * C1 * K_OFF / (C1 + K_OFF)) == approx(2.0 / 3.0)
