from carnet.cli import app

app(prog_name="carnet")
