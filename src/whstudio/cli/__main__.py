from whstudio.cli import main

main()
