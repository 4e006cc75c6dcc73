from lumisync.cli import main

main()
