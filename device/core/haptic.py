"""The breath as touch: how strongly a small vibration motor runs at each moment of a plan.

Pure, like the plan itself. From what works for haptic breathing guides (see the README,
"The wearable"): a continuous, eased swell through each inhale (continuous stimuli were
rated the most fitting for guided breathing; Little, Tennison and Gorlewicz, IEEE ToH 2025),
a long, slow fade through each exhale, stillness on holds (silence is the clearest signal),
and a double tap where each part begins. Only the guided breathing is felt: the spoken parts
stay still, so a touch never nags at night.
"""

from __future__ import annotations

from device.core.part_builder import ease
from device.core.plan import SessionPlan

TAP_S = 0.09  # one tap of the double tap that marks a new part
TAP_GAP_S = 0.18  # longer than a coin motor takes to spin down, so two taps stay two
TAP_LEVEL = 0.8
INHALE_FROM = 0.25  # an inhale starts gently, but where it can already be felt


def touch_at(plan: SessionPlan, t: float) -> float:
    """The touch at `t` seconds into the plan, 0 (still) to 1 (the configured strength)."""
    if t < 0 or t >= plan.seconds:
        return 0.0
    part = plan.part_at(t)
    since = t - part.start
    if since < 2 * TAP_S + TAP_GAP_S:
        return TAP_LEVEL if since < TAP_S or since >= TAP_S + TAP_GAP_S else 0.0
    if part.name != "breathe":
        return 0.0
    segment = plan.segment_at(t)
    x = (t - segment.start) / segment.seconds
    if segment.phase == "inhale":
        return ease(INHALE_FROM, 1.0, x)
    if segment.phase == "exhale":
        return ease(1.0, 0.0, x)
    return 0.0  # holds
