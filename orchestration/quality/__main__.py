from orchestration.quality.cli import main

main()
