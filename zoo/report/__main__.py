from zoo.report.cli import main

main()
