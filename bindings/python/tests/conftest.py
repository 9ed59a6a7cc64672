import os
import sys

# Run against the source tree's package unless KORCH_TEST_INSTALLED is set
# (then the installed package is imported, as a user would).
if not os.environ.get("KORCH_TEST_INSTALLED"):
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
