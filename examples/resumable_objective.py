"""Your own objective that survives preemption: it saves its state at step boundaries,
and a retry of an interrupted trial continues from there instead of from step 0.

    nas search sine-resumable --objective examples.resumable_objective:objective -n 20 -j 2

`saved_state(trial)` gives what the trial's lineage last saved (None on a first attempt);
`save_state(trial, step, snapshot)` keeps the state after `step` (every
NAS_CHECKPOINT_SECONDS, and always when the worker is asked to stop, which is where the
trial then stops); `snapshot` makes the bytes only when a save is due. The state is bytes
of your choosing: here torch.save of the model, the optimizer, the step and its value. Saved
and restored whole, the retry's value is the value an uninterrupted run gives. (An
objective that returns `nas.worker.objective.evolve(trial, spec, config)` needs none of
this: nas checkpoints the evolution itself.)
"""
import io

import optuna
import torch

from nas.worker.objective import save_state, saved_state


def objective(trial: optuna.Trial, spec) -> float:
    hidden = trial.suggest_int("hidden", 4, 64, log=True)
    lr = trial.suggest_float("lr", 1e-3, 1e-1, log=True)
    x = torch.linspace(-3, 3, 256).unsqueeze(1)
    y = torch.sin(x)
    model = torch.nn.Sequential(torch.nn.Linear(1, hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, 1))
    generator = torch.Generator().manual_seed(spec.base_seed)  # same config -> same value
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * 0.5)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    first, value = 0, float("nan")
    state = saved_state(trial)
    if state is not None:  # a retry: continue after the saved step
        saved = torch.load(io.BytesIO(state), weights_only=True)
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        first, value = saved["step"] + 1, saved["value"]

    def snapshot() -> bytes:  # called only when a checkpoint is due
        buffer = io.BytesIO()
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "step": step, "value": value}, buffer)
        return buffer.getvalue()

    for step in range(first, spec.generations):
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        optimizer.step()
        value = -loss.item()  # nas studies maximize
        trial.report(value, step)
        if trial.should_prune():
            raise optuna.TrialPruned()
        save_state(trial, step, snapshot)
    return value
