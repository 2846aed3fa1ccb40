from dbtool.cli import main

main()
