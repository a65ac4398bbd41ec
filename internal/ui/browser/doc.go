// Package browser holds the console's browser tests: headless Chromium, driven with chromedp, against
// the console over a data folder the real pipeline made. They live in a package of their own so that
// nothing else links chromedp; they are skipped (and listed by make test) when Chromium is missing
// locally, and required in CI. With -update they write their screenshots to docs/img.
package browser
