#!/usr/bin/env bash
# Written by ko_image_test from rules/private/structure_test.sh.tpl: checks
# {{image}} against its expectations with `rko check-image`, from the image's
# layout and its layers' listings (never a layer blob). Arguments (the
# layout, EXPECT.json, the listings, the platform) are in {{args}}, one a line.
set -euo pipefail
exec "./{{rko}}" check-image "@{{args}}" "$@"
