from orchestration.errors import exit_on_config_error
from orchestration.quality.cli import main

with exit_on_config_error():
    main()
