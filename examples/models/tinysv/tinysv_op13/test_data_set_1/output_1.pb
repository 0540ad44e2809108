BscoreJ„
x<