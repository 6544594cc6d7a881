"""What the lockstep blocks (lockstep.py, lockstep_neat.py) and the lone-lane steps
(alone.py) share: the rows of a pure block's network scratch `buf[row, unit, lane]`, and
the damping wobble's window and kinds."""
from __future__ import annotations

OBS, CTX, A, B = 0, 1, 2, 3  # observations, recurrent context, two layers' values
WINDOW = 100  # wobble window (double_pole._episodes)
NO_WOBBLE, STATE_WOBBLE, INPUT_WOBBLE = 0, 1, 2
