"""The README's screenshot of the web demo: the demo's model classifying a
digit drawn with the mouse, in headless Chromium.

    .venv/bin/python tools/web_screenshot.py [MODEL.tflite] [-o web_demo/screenshot.png]
"""

import argparse
import os
import sys
import threading

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "web_demo"))

import serve  # noqa: E402 (web_demo/serve.py)

SEVEN = [[(70, 50), (190, 50), (150, 120), (115, 215)]]  # a 7: the bar, then the stem


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "model", nargs="?", default=os.path.join(ROOT, "runs/digits/model_int8.tflite")
    )
    parser.add_argument("-o", "--output", default=os.path.join(ROOT, "web_demo", "screenshot.png"))
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    serve.install_packages()
    httpd = serve.server(args.model)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    with sync_playwright() as playwright:
        browser = serve.launch(playwright)
        page = browser.new_page(viewport={"width": 1000, "height": 560})
        page.goto(f"http://127.0.0.1:{httpd.server_address[1]}/")
        page.wait_for_function("document.body.dataset.state === 'ready'", timeout=120_000)
        box = page.locator("#pad").bounding_box()
        for (x, y), *rest in SEVEN:
            page.mouse.move(box["x"] + x, box["y"] + y)
            page.mouse.down()
            for x, y in rest:
                page.mouse.move(box["x"] + x, box["y"] + y, steps=10)
            page.mouse.up()
        page.wait_for_selector("#results li")
        print("top 3:", page.inner_text("#results").replace("\n", " "))
        page.screenshot(path=args.output)
        browser.close()
    httpd.shutdown()
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
