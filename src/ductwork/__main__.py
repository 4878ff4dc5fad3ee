from ductwork.cli import main

main(prog_name="ductwork")  # `python -m ductwork` completes as `ductwork` does
