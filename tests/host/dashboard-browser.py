#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# Loads dashboard pages in one headless Chromium over the DevTools protocol (on a pipe, so no
# port is opened) and saves each page's rendered DOM and a screenshot once a condition holds.
#
# Usage: dashboard-browser.py CHROMIUM PROFILE-DIR DOM-DIR SHOT-DIR [NAME URL CONDITION]...
# For each page: navigate to URL in the same tab (sessionStorage carries over, as for a user),
# wait until the JavaScript CONDITION is true (at most 30 s), then write DOM-DIR/NAME.html (the
# DOM), DOM-DIR/NAME.ids ("id<TAB>text" of each element with an id, its text as rendered, spaces
# collapsed, and "location<TAB>" the page's URL) and SHOT-DIR/dashboard-NAME.png. One browser start for every page: under load each start costs
# seconds, and waiting for a condition instead of a fixed time is what makes the test robust.
# Exits 1 naming the page and condition that never held (its DOM is written all the same).
import base64
import fcntl
import json
import os
import subprocess
import sys
import time

WAIT_S = 30


class Browser:
    def __init__(self, chromium, profile):
        to_chrome_r, self.to_chrome = os.pipe()
        self.from_chrome, from_chrome_w = os.pipe()

        def fds():  # --remote-debugging-pipe: Chromium reads fd 3, writes fd 4
            # Out of the way first: either end may itself be fd 3 or 4.
            r = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD, 10)
            w = fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD, 10)
            os.dup2(r, 3)
            os.dup2(w, 4)

        self.proc = subprocess.Popen(
            [chromium, '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
             '--no-first-run', '--disable-background-networking', '--disable-component-update',
             '--disable-sync', '--user-data-dir=' + profile, '--remote-debugging-pipe',
             '--window-size=1280,900', 'about:blank'],
            preexec_fn=fds, pass_fds=(3, 4),  # kept open by the close that follows preexec_fn
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self.buf = b''
        self.next_id = 0
        self.session = None

    def call(self, method, params=None, session=True):
        self.next_id += 1
        msg = {'id': self.next_id, 'method': method, 'params': params or {}}
        if session and self.session:
            msg['sessionId'] = self.session
        os.write(self.to_chrome, json.dumps(msg).encode() + b'\0')
        while True:  # events are read and dropped until our answer comes
            while b'\0' not in self.buf:
                chunk = os.read(self.from_chrome, 1 << 20)
                if not chunk:
                    sys.exit('dashboard-browser: chromium closed the DevTools pipe during ' + method)
                self.buf += chunk
            raw, self.buf = self.buf.split(b'\0', 1)
            reply = json.loads(raw)
            if reply.get('id') == self.next_id:
                if 'error' in reply:
                    sys.exit('dashboard-browser: %s: %s' % (method, reply['error']))
                return reply['result']

    def attach(self):
        targets = self.call('Target.getTargets', session=False)['targetInfos']
        page = next(t for t in targets if t['type'] == 'page')
        self.session = self.call('Target.attachToTarget',
                                 {'targetId': page['targetId'], 'flatten': True},
                                 session=False)['sessionId']
        self.call('Emulation.setDeviceMetricsOverride',
                  {'width': 1280, 'height': 900, 'deviceScaleFactor': 1, 'mobile': False})

    def evaluate(self, expression):
        r = self.call('Runtime.evaluate', {'expression': expression, 'returnByValue': True})
        return r['result'].get('value')

    def close(self):
        try:
            self.call('Browser.close', session=False)
        except SystemExit:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def main():
    if len(sys.argv) < 8 or (len(sys.argv) - 5) % 3:
        sys.exit('usage: dashboard-browser.py CHROMIUM PROFILE DOM-DIR SHOT-DIR [NAME URL CONDITION]...')
    chromium, profile, dom_dir, shot_dir = sys.argv[1:5]
    pages = [sys.argv[i:i + 3] for i in range(5, len(sys.argv), 3)]
    b = Browser(chromium, profile)
    failed = []
    try:
        b.attach()
        for name, url, condition in pages:
            b.call('Page.navigate', {'url': url})
            end = time.monotonic() + WAIT_S
            held = False
            while time.monotonic() < end:
                if b.evaluate('(() => { try { return !!(%s); } catch (e) { return false; } })()' % condition):
                    held = True
                    break
                time.sleep(0.1)
            with open(os.path.join(dom_dir, name + '.html'), 'w', encoding='utf-8') as f:
                f.write(b.evaluate('document.documentElement.outerHTML') or '')
            # The text a reader sees in every element that has an id, one line each.
            texts = json.loads(b.evaluate(
                'JSON.stringify(Array.from(document.querySelectorAll("[id]"), '
                '(e) => [e.id, e.innerText === undefined ? e.textContent : e.innerText]))'))
            texts.append(['location', b.evaluate('location.href')])  # what the address bar shows
            with open(os.path.join(dom_dir, name + '.ids'), 'w', encoding='utf-8') as f:
                for ident, text in texts:
                    f.write(ident + '\t' + ' '.join((text or '').split()) + '\n')
            shot = b.call('Page.captureScreenshot', {'format': 'png'})['data']
            with open(os.path.join(shot_dir, 'dashboard-%s.png' % name), 'wb') as f:
                f.write(base64.b64decode(shot))
            if not held:
                failed.append('%s (%s): still false after %d s: %s' % (name, url.split('#')[0], WAIT_S, condition))
    finally:
        b.close()
    for f in failed:
        print('dashboard-browser: page ' + f, file=sys.stderr)
    sys.exit(1 if failed else 0)


main()
