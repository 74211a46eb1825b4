"""Movement: the body or the sensor moving (turning over, sobbing, the sensor picked up) or
the posture changing, in which the breath cannot be read. Pure numpy."""

from __future__ import annotations

import numpy as np

from device.sensing.signal import FS, mean_filter

MOVING_HF_G = 0.012  # g RMS above ~1 Hz in any second: the body or the sensor is moving
MOVING_TILT_DEG = 8.0  # gravity's direction changing this much within a window: posture
MOVING_TURN_DEG = 5.0  # or this much within 2 s: turning over, the sensor picked up
MOVING_MARGIN_S = 1.0  # a window this close to movement is a moving one too


def moving_mask(a: np.ndarray) -> np.ndarray:
    """Per bin: the body or the sensor was moving within MOVING_MARGIN_S of it. Moving is
    broadband motion (above ~1 Hz, RMS over 1 s) beyond MOVING_HF_G, gravity's direction
    turning by more than MOVING_TURN_DEG between 2 s means 2 s apart, or the sensor not
    resting under 1 g (carried, dropped)."""
    n = a.shape[0]
    second, two = int(FS), int(2 * FS)
    residual = a - mean_filter(a, 5)
    hf = np.sqrt(mean_filter((residual**2).sum(axis=1, keepdims=True), second)[:, 0])
    hf[:3] = hf[3] if n > 3 else 0.0  # the filter's edges are not motion
    hf[-3:] = hf[-4] if n > 3 else 0.0
    gravity = mean_filter(a, two)
    size = np.linalg.norm(gravity, axis=1)
    direction = gravity / np.maximum(size, 1e-9)[:, None]
    turn = np.zeros(n)
    if n > two:
        cosine = np.clip(np.sum(direction[two:] * direction[:-two], axis=1), -1.0, 1.0)
        turn[two // 2: n - two + two // 2] = np.degrees(np.arccos(cosine))
    moving = (hf > MOVING_HF_G) | (turn > MOVING_TURN_DEG) | (size < 0.5) | (size > 1.5)
    margin = int(MOVING_MARGIN_S * FS)
    if moving.any() and margin:
        moving = mean_filter(moving[:, None].astype(float), 2 * margin + 1)[:, 0] > 0
    mask: np.ndarray = moving
    return mask


def posture_changed(a: np.ndarray) -> bool:
    """Gravity's direction (2 s means) straying more than MOVING_TILT_DEG / 2 from its
    median within the window: a change of posture, however slow."""
    step = int(2 * FS)
    parts = a[: (a.shape[0] // step) * step].reshape(-1, step, 3).mean(axis=1)
    directions = parts / np.linalg.norm(parts, axis=1)[:, None]
    middle = np.median(directions, axis=0)
    middle /= np.linalg.norm(middle)
    angles = np.degrees(np.arccos(np.clip(directions @ middle, -1.0, 1.0)))
    return bool(angles.max() > MOVING_TILT_DEG / 2)
