from commitments_cli.app import main

main()
