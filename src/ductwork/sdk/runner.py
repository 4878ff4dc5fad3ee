"""`python -m ductwork.sdk.runner`: the entry point stored function-step tasks name.

Stored tasks (`script.module`) and warm agents name this path, so it stays; the runner itself
is `ductwork.pipelines.runner`.
"""

import sys

from ductwork.pipelines.runner import main

if __name__ == "__main__":
    sys.exit(main())
