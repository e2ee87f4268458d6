"""The Python face: every `ft.*` function and handle, over the core. `import jupyter_ft as ft` resolves each public
name from here on first use.

    jobs.py         Job / EvalJob handles; submit, train, preview, jobs, get_job, cancel, reproduce, workspace
    evaluations.py  evaluate, eval_jobs, eval_results, dry_run_evaluator
    datasets.py     ft.datasets: add, add_demo, list, versions, get, rows, token_stats, trained_tokens
    models.py       ft.models / ft.model: registered versions, aliases, rollback
    endpoints.py    deploy, endpoints, endpoint
    playground.py   ft.playground: votes and the preference dataset they become
    rewards.py      ft.rewards: built-in rewards and their dry run

The workspace is named the same way everywhere: a `Workspace`, or its folder, or nothing for the default one
(`JUPYTER_FT_HOME`, else the Jupyter data dir).
"""
