from nas.coordinator.cli import main

main()
