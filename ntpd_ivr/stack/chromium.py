"""The headless Chromium the browser tests and `bench-screens` drive (Playwright): Debian's
own build, never a downloaded one, with the same flags everywhere."""

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
