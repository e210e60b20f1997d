from llmdeploy.cli.main import run

run()
