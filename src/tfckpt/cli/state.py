import argparse
def add_parser(sub):
    pass
def add_latest_parser(sub):
    pass
