"""Jupyter Notebook behind the osgs front door.

The token is read from the compose secret, so it is neither in the
environment (docker inspect) nor on the command line (ps).
"""
c = get_config()  # noqa: F821 - provided by Jupyter

with open("/run/secrets/jupyter_token", encoding="utf-8") as f:
    c.NotebookApp.token = f.read().strip()
c.NotebookApp.ip = "0.0.0.0"
c.NotebookApp.port = 8888
c.NotebookApp.base_url = "/jupyter/"
c.NotebookApp.open_browser = False
c.NotebookApp.notebook_dir = "/home/jupyter"
c.NotebookApp.trust_xheaders = True
c.NotebookApp.allow_remote_access = True
c.NotebookApp.quit_button = False
