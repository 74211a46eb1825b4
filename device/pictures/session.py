"""The picture of one whole session, as `ebbtide render` writes it (session.png).

One page, one shared time axis, top to bottom: the parts as labelled bands; the light's
perceptual lightness with each inhale, hold and exhale shaded; with a breath sensor, the
person's sensed breathing under the light, each breath of the breathing part marked in
step with it or at their own pace; every spoken line as a mark with its words, so the
quiet between lines shows; the breathing rate; the sound's level as a thin strip; and the
motor's touch when there is one. It is drawn from what the rendered session did (a
SessionTimeline, and the SessionSensing of what was sensed), not from the plan, so it
shows the device.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from device.core import parts as registry
from device.core.plan import span_at
from device.core.sensed_session import SessionSensing
from device.core.text import minutes_text
from device.history.report import breathing_text
from device.pictures import picture

WIDTH_PX, HEIGHT_PX = 1600, 1000
SILENCE_DB = -60.0  # the bottom of the sound strip
QUIET_SECONDS = 8.0  # a pause this long between lines of a spoken part is marked "quiet"
LABEL_CHARACTERS = 38
LABEL_GAP_PX = 13  # between neighbouring line labels (they stand upright)
MARK_PX = 3  # the narrowest mark of a line: "Hold." is 0.4 s, a pixel at most

OTHER_PART_COLOR = "#dddddd"  # a part the registry does not know (an old trace, say)
PHASE_COLORS = {"inhale": "#f7dfa8", "hold": "#e3e3e3", "exhale": "#c3d6ee"}
LIGHT_COLOR = "#d07a00"
VOICE_COLOR = "#1d5c68"
RATE_COLOR = "#5a4a8c"
SOUND_COLOR = "#3d7a4f"
TIDE_COLOR = "#1f4e79"
TOUCH_COLOR = "#9c3d54"
SENSED_COLOR = "#56707f"  # the person's breathing, as the sensor read it
IN_STEP_COLOR = "#3f9a88"  # a breath that began with the light's inhale
OWN_PACE_COLOR = "#b7a3d3"  # a breath taken at the person's own pace: as calm, never a fault
BREATH_MARK_Y = 1.32  # the row of breath marks, above the sensed breathing (-1..1)
SENSED_LIMITS = (-1.2, BREATH_MARK_Y + 0.75)  # with a band above the marks for the words
TEXT_COLOR = "#333333"


@dataclass(frozen=True)
class SessionTimeline:
    """What one session did, sampled for drawing.

    `events` are (t, kind, detail, seconds) with kind "part", "phase" (detail inhale, hold
    or exhale) or "say" (detail: the words); `light_t`/`lightness` and `touch` are
    sampled alike; `level_db` is the sound's RMS level in dBFS at `level_t`, and `tide_db`
    the tide's alone (None when it is off).
    """

    title: str
    seconds: float
    events: Sequence[tuple[float, str, str, float]]
    light_t: Sequence[float]
    lightness: Sequence[float]
    level_t: Sequence[float]
    level_db: Sequence[float]
    tide_db: Sequence[float] | None = None
    touch: Sequence[float] | None = None

    def of_kind(self, kind: str) -> list[tuple[float, str, float]]:
        """(t, detail, seconds) of every event of one kind, in time order."""
        return [(t, detail, seconds) for t, k, detail, seconds in self.events if k == kind]


@dataclass(frozen=True)
class Breath:
    """One breath: from its inhale to the next breath's (or its own last phase's end)."""

    start: float
    stop: float

    @property
    def rate(self) -> float:
        """Breaths per minute, had every breath been this long."""
        return 60.0 / (self.stop - self.start)


def breaths(timeline: SessionTimeline) -> list[Breath]:
    """The breaths, from the phase events: an inhale after another phase begins a breath
    (a cyclic sigh's top-up is a second inhale within the same breath)."""
    found: list[Breath] = []
    start: float | None = None
    previous = ""
    end = 0.0
    for t, name, seconds in timeline.of_kind("phase"):
        if name == "inhale" and previous != "inhale":
            if start is not None:
                found.append(Breath(start, t if abs(t - end) < 0.5 else end))
            start = t
        previous, end = name, t + seconds
    if start is not None:
        found.append(Breath(start, end))
    return found


def quiet_spans(timeline: SessionTimeline) -> list[tuple[float, float]]:
    """Pauses of QUIET_SECONDS or more between two lines of the same spoken part (the
    breathing part is left out: there the light leads)."""
    parts = timeline.of_kind("part")
    said = timeline.of_kind("say")
    spans = []
    for (t0, _, s0), (t1, _, _) in itertools.pairwise(said):
        part = _part_at(parts, t0)
        if part != "breathe" and part == _part_at(parts, t1) and t1 - (t0 + s0) >= QUIET_SECONDS:
            spans.append((t0 + s0, t1))
    return spans


def _part_at(parts: list[tuple[float, str, float]], t: float) -> str:
    """The part a line at `t` was spoken in ("" before the first); a line that begins with
    its part may be noted a rounding error before it."""
    i = span_at([start for start, _, _ in parts], t + 1e-9)
    return parts[i][1] if i >= 0 else ""


def shortened(text: str, limit: int = LABEL_CHARACTERS) -> str:
    """The words, cut at a word boundary with an ellipsis when longer than `limit`."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0].rstrip(",.;:")
    return cut + "…"


def spread(positions: Sequence[float], gap: float) -> list[float]:
    """Label positions at least `gap` apart, each at or after its own mark."""
    placed: list[float] = []
    for x in positions:
        placed.append(max(x, placed[-1] + gap) if placed else x)
    return placed


def draw_session(timeline: SessionTimeline, sensing: SessionSensing | None = None) -> Any:
    """The session on one page (a matplotlib Figure); each Axes is labelled by what it
    shows ("parts", "light", "sensed", "voice", "rate", "sound", "touch") so tests can find
    it. The "sensed" panel is drawn only for a session whose sensing has breaths: without
    a sensor the picture is the one it always was."""
    fig = picture.figure(WIDTH_PX, HEIGHT_PX)  # first: it loads matplotlib, quietly
    from matplotlib.ticker import FuncFormatter, MultipleLocator

    rows = ["parts", "light", "voice", "rate", "sound"]
    heights = [0.45, 2.4, 2.6, 1.1, 0.45]
    if sensing is not None and sensing.breaths:
        rows.insert(2, "sensed")
        heights.insert(2, 1.5)
    if timeline.touch is not None:
        rows.append("touch")
        heights.append(0.9)
    grid = fig.add_gridspec(len(rows), 1, height_ratios=heights, hspace=0.12, left=0.075,
                            right=0.985, top=0.94, bottom=0.06)
    axes: dict[str, Any] = {}
    for i, name in enumerate(rows):
        ax = fig.add_subplot(grid[i], sharex=axes.get("parts"), label=name)
        ax.set_xlim(0, timeline.seconds)
        ax.tick_params(labelbottom=name == rows[-1], labelsize=9)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        axes[name] = ax
    bottom = axes[rows[-1]]
    bottom.xaxis.set_major_locator(MultipleLocator(60))
    bottom.xaxis.set_major_formatter(FuncFormatter(lambda seconds, _: minutes_text(seconds)))
    bottom.set_xlabel("time into the session (minutes)", fontsize=10)
    fig.suptitle(timeline.title, fontsize=14, x=0.075, ha="left")

    _draw_parts(axes["parts"], timeline)
    _draw_light(axes["light"], timeline)
    if "sensed" in axes and sensing is not None:
        _draw_sensed(axes["sensed"], timeline, sensing)
    _draw_voice(axes["voice"], timeline)
    _draw_rate(axes["rate"], timeline)
    _draw_sound(axes["sound"], timeline)
    if timeline.touch is not None:
        _draw_touch(axes["touch"], timeline.light_t, timeline.touch)
    return fig


def part_colour(name: str) -> str:
    """A part's band colour: the registry's (device/core/parts.py)."""
    return next((p.colour for p in registry.PARTS if p.name == name), OTHER_PART_COLOR)


def _draw_parts(ax: Any, timeline: SessionTimeline) -> None:
    for start, name, seconds in timeline.of_kind("part"):
        ax.axvspan(start, start + seconds, color=part_colour(name),
                   linewidth=0)
        ax.text(start + seconds / 2, 0.5, name, ha="center", va="center", fontsize=10,
                clip_on=True)
    ax.set_ylim(0, 1)
    ax.set_yticks([])
    ax.set_ylabel("part", fontsize=10, rotation=0, ha="right", va="center", labelpad=28)
    for side in ("left", "bottom"):
        ax.spines[side].set_visible(False)


def _draw_light(ax: Any, timeline: SessionTimeline) -> None:
    from matplotlib.patches import Patch

    for start, name, seconds in timeline.of_kind("phase"):
        ax.axvspan(start, start + seconds, color=PHASE_COLORS.get(name, "#eeeeee"),
                   linewidth=0)
    ax.plot(timeline.light_t, timeline.lightness, color=LIGHT_COLOR, linewidth=1.3)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("light\n(perceived, 0-1)", fontsize=10)
    ax.legend(handles=[Patch(color=color, label=name) for name, color in PHASE_COLORS.items()],
              loc="upper right", fontsize=9, ncols=3, framealpha=0.9)


def _draw_sensed(ax: Any, timeline: SessionTimeline, sensing: SessionSensing) -> None:
    """The person's breathing as sensed, over the light's inhales (shaded as above it), and
    a mark at each of the pacer's breaths: in step, or at their own pace; the session's
    figures at the top left."""
    from matplotlib.lines import Line2D

    low, high = SENSED_LIMITS
    shaded = (BREATH_MARK_Y + 0.15 - low) / (high - low)  # up to the marks, not the words
    for start, name, seconds in timeline.of_kind("phase"):
        if name == "inhale":
            ax.axvspan(start, start + seconds, ymax=shaded, color=PHASE_COLORS["inhale"],
                       linewidth=0)
    if sensing.trace:
        ax.plot([t for t, _ in sensing.trace], [v for _, v in sensing.trace],
                color=SENSED_COLOR, linewidth=1.2)
    for in_step, color in ((True, IN_STEP_COLOR), (False, OWN_PACE_COLOR)):
        marked = [b.paced_at for b in sensing.breaths if b.in_step == in_step]
        if marked:
            ax.scatter(marked, [BREATH_MARK_Y] * len(marked), s=22, color=color,
                       linewidths=0, zorder=3)
    # The figures and the key in a band of their own above the marks, so they hide none.
    ax.set_ylim(low, high)
    ax.set_yticks([])
    ax.set_ylabel("your breath\n(sensed)", fontsize=10)
    summary = breathing_text(sensing.start_bpm, sensing.end_bpm, sensing.in_step_share)
    if summary:
        ax.text(0.004, 0.98, summary, transform=ax.transAxes, ha="left", va="top",
                fontsize=9, color=TEXT_COLOR)
    handles = [
        Line2D([], [], color=SENSED_COLOR, linewidth=1.2, label="your breathing"),
        Line2D([], [], linestyle="", marker="o", markersize=5, markeredgewidth=0,
               color=IN_STEP_COLOR, label="in step with the light"),
        Line2D([], [], linestyle="", marker="o", markersize=5, markeredgewidth=0,
               color=OWN_PACE_COLOR, label="at your own pace"),
    ]
    ax.legend(handles=handles, loc="upper right", fontsize=8, ncols=3, frameon=False,
              handletextpad=0.3, columnspacing=1.0, borderaxespad=0.1, borderpad=0.1)


def _draw_voice(ax: Any, timeline: SessionTimeline) -> None:
    """A mark under each line as long as it is spoken, its words upright above it; labels
    too close for their neighbours move right, on a thin lead back to their mark."""
    said = timeline.of_kind("say")
    ax.set_ylim(-0.15, 1.0)
    ax.set_yticks([])
    ax.set_ylabel("voice", fontsize=10)
    ax.spines["left"].set_visible(False)
    for start, stop in quiet_spans(timeline):
        ax.axvspan(start, stop, ymax=0.25, color="#eef2f3", linewidth=0)
        ax.text((start + stop) / 2, 0.0, "quiet", ha="center", va="center", fontsize=8,
                color="#7b8a8d", clip_on=True)
    seconds_per_px = timeline.seconds / (ax.get_position().width * WIDTH_PX)
    places = spread([t for t, _, _ in said], LABEL_GAP_PX * seconds_per_px)
    for (t, text, seconds), x in zip(said, places, strict=True):
        ax.plot([t, t + max(seconds, MARK_PX * seconds_per_px)], [0, 0], color=VOICE_COLOR,
                linewidth=6, solid_capstyle="butt")
        ax.plot([t, t, x], [0.04, 0.08, 0.13], color=VOICE_COLOR, linewidth=0.5)
        ax.text(x, 0.14, shortened(text), rotation=90, ha="center", va="bottom", fontsize=8,
                color="#1e2a2c")


def _draw_rate(ax: Any, timeline: SessionTimeline) -> None:
    found = breaths(timeline)
    xs = [x for b in found for x in (b.start, b.stop)]
    ys = [b.rate for b in found for _ in range(2)]
    ax.plot(xs, ys, color=RATE_COLOR, linewidth=1.6)
    rates = [b.rate for b in found] or [6.0]
    ax.set_ylim(min(4.0, min(rates) - 1), max(10.0, max(rates) + 1))
    ax.set_ylabel("breaths\nper minute", fontsize=10)
    if found:
        # where it begins, and where it first reaches the pace it keeps
        settled = next(b for b in found if abs(b.rate - found[-1].rate) < 0.05)
        for breath in dict.fromkeys((found[0], settled)):
            ax.annotate(f"{breath.rate:.1f}/min", (breath.start, breath.rate),
                        textcoords="offset points", xytext=(2, 6), fontsize=9,
                        color=TEXT_COLOR)


def envelope(times: Sequence[float], levels: Sequence[float],
             window: float) -> tuple[list[float], list[float]]:
    """The loudest level in each `window` seconds (from 0), floored at SILENCE_DB: short
    blocks would be thinner than a pixel, and the gaps between words would hide a line."""
    starts: list[float] = []
    loudest: list[float] = []
    for t, db in zip(times, levels, strict=True):
        n = int(t / window + 1e-9)
        while len(starts) <= n:
            starts.append(len(starts) * window)
            loudest.append(SILENCE_DB)
        loudest[n] = max(loudest[n], db)
    return starts, loudest


def _draw_sound(ax: Any, timeline: SessionTimeline) -> None:
    width = ax.get_position().width * WIDTH_PX
    starts, levels = envelope(timeline.level_t, timeline.level_db,
                              2 * timeline.seconds / width)
    ax.fill_between([*starts, timeline.seconds], SILENCE_DB, [*levels, SILENCE_DB],
                    color=SOUND_COLOR, linewidth=0, step="post", label="all sound")
    if timeline.tide_db is not None:
        starts, levels = envelope(timeline.level_t, timeline.tide_db,
                                  2 * timeline.seconds / width)
        ax.step([*starts, timeline.seconds], [*levels, levels[-1] if levels else SILENCE_DB],
                where="post", color=TIDE_COLOR, linewidth=1.5, label="the tide alone")
        ax.legend(loc="upper right", fontsize=8, frameon=False, ncols=2)
    ax.set_ylim(SILENCE_DB, 0)
    ax.set_yticks([SILENCE_DB, 0])
    ax.set_ylabel("sound\n(dBFS)", fontsize=10)


def _draw_touch(ax: Any, times: Sequence[float], touch: Sequence[float]) -> None:
    ax.fill_between(times, 0, touch, color=TOUCH_COLOR, alpha=0.35, linewidth=0)
    ax.plot(times, touch, color=TOUCH_COLOR, linewidth=0.9)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("touch\n(0-1)", fontsize=10)


def write_session_picture(timeline: SessionTimeline, path: Path,
                          sensing: SessionSensing | None = None) -> None:
    """Draw the session and save it as PNG or SVG (by the file name); `sensing`, what the
    breath sensor told of it, adds the sensed breathing under the light."""
    picture.save(draw_session(timeline, sensing), path)
