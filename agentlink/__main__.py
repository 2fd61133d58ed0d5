from agentlink.cli import main

main()
