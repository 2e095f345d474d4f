from training.cli import train_main

train_main()
