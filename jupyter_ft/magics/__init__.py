"""IPython magics: `%load_ext jupyter_ft` registers `%ft`, `%%ft_train`, `%%ft_eval`, `%%ft_chat` (jobs.py) and
`%ft_deploy`, `%%ft_deploy`, `%ft_endpoints` (deploy.py)."""


def load_ipython_extension(ipython) -> None:
    from jupyter_ft.magics.deploy import DeployMagics
    from jupyter_ft.magics.jobs import FineTuningMagics

    ipython.register_magics(FineTuningMagics)
    ipython.register_magics(DeployMagics)
