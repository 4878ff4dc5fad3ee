"""`python -m ductwork.sdk.replay`: the entry point stored pipeline-as-step tasks name.

Stored tasks (`script.module`) name this path, so it stays; the replay itself is
`ductwork.pipelines.replay`.
"""

import sys

from ductwork.pipelines.replay import main

if __name__ == "__main__":
    sys.exit(main())
