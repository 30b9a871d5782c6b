# @attack: read the host's canary file by its host path
# @language: bash
# @lanes: host
# @contained: 1
# Containment: the path does not exist in the run (its mount namespace has
# no host filesystem); the judge also checks the canary's token is in no
# output.
if cat @@CANARY_FILE@@ 2>/dev/null; then echo "ESCAPED read the canary"; else echo "CONTAINED the canary's path does not resolve"; fi
