import sys

from django.core.management.base import BaseCommand

from lumisync.simulator.cli import main


class Command(BaseCommand):
    help = "Run the Luminate Online simulator (HTTP API + FTP/FTPS). `lumisync simulator --help` lists its options."

    def run_from_argv(self, argv):
        # The simulator has its own argument parser; hand it everything after the command name.
        sys.exit(main(argv[2:]))
