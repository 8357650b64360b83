"""A file-backed keyring for the benchmarks only (stands in for the OS keyring).

Not imported here: crypto.py and sync.py copy this file beside the homes they time and name it in
PYTHON_KEYRING_BACKEND (``bench_keyring.FileKeyring``), with BENCH_KEYRING_FILE its JSON file.
"""
import json, os
from keyring.backend import KeyringBackend

class FileKeyring(KeyringBackend):
    priority = 1

    @property
    def path(self):
        return os.environ["BENCH_KEYRING_FILE"]

    def _load(self):
        try:
            with open(self.path) as fh:
                return json.load(fh)
        except FileNotFoundError:
            return {}

    def get_password(self, service, username):
        return self._load().get(service + "/" + username)

    def set_password(self, service, username, password):
        data = self._load()
        data[service + "/" + username] = password
        with open(self.path, "w") as fh:
            json.dump(data, fh)

    def delete_password(self, service, username):
        data = self._load()
        data.pop(service + "/" + username, None)
        with open(self.path, "w") as fh:
            json.dump(data, fh)
