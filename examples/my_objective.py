"""Your own objective, run by nas workers: a tiny torch model fitted to a toy signal.

    nas search sine-001 --objective examples.my_objective:objective --direction minimize -n 20 -j 2

The function gets the Optuna trial and the study spec (population, generations, seeds,
... from the command line) and returns a float (here a loss: `--direction minimize`; a
study maximizes an objective's value by default), or an `EvolutionResult` from
`nas.evolution.run_evolution` to have nas fill its per-seed tables. Report intermediate
values with `trial.report` so the study's pruner can stop bad trials across workers.
Workers import it by name, so run them from the directory that holds `examples/` (or
install your package). Torch here already obeys the worker's thread cap.
"""
import optuna
import torch


def objective(trial: optuna.Trial, spec) -> float:
    hidden = trial.suggest_int("hidden", 4, 64, log=True)
    lr = trial.suggest_float("lr", 1e-3, 1e-1, log=True)
    generator = torch.Generator().manual_seed(spec.base_seed)  # same config -> same value
    x = torch.linspace(-3, 3, 256).unsqueeze(1)
    y = torch.sin(x)
    model = torch.nn.Sequential(torch.nn.Linear(1, hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, 1))
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * 0.5)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    for step in range(spec.generations):
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        optimizer.step()
        trial.report(loss.item(), step)
        if trial.should_prune():
            raise optuna.TrialPruned()
    return loss.item()
